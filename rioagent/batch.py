"""`rioagent run --batch FILE.jsonl --workers N`: many (repo, task) pairs, N at a time.

Every line is checked (JSON, repo exists, task given, the repo's settings load) before anything runs, so a
typo on line 40 does not surface an hour in. Each task gets its own session, model object and agent.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from rioagent.config import ConfigError, Settings, load_settings
from rioagent.events import Event, Finished
from rioagent.headless import (
    EXIT_DONE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    HeadlessApprover,
    Interrupts,
    UsageError,
    error_message,
    failed_result,
    print_error,
    run_task,
)
from rioagent.models.base import ModelError
from rioagent.output import StreamJsonPrinter, json_line, result_dict, safe_write
from rioagent.session import new_session_id


class _NotStarted(Exception):
    pass


@dataclass
class BatchItem:
    line: int
    repo: Path
    task: str
    settings: Settings


def read_batch(path: Path, flags: dict[str, Any] | None = None) -> list[BatchItem]:
    """The file's tasks, or a UsageError listing every bad line by number.

    A relative `repo` is taken relative to the batch file's folder, so a batch file travels with its repos.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"--batch {path}: cannot read it ({exc.strerror or exc})") from None
    items: list[BatchItem] = []
    problems: list[str] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError as exc:
            problems.append(f"line {number}: not valid JSON ({exc.msg})")
            continue
        if not isinstance(record, dict):
            problems.append(f'line {number}: expected an object like {{"repo": "path", "task": "..."}}')
            continue
        task, repo = record.get("task"), record.get("repo")
        if not isinstance(task, str) or not task.strip():
            problems.append(f'line {number}: "task" must be a non-empty string')
        if not isinstance(repo, str) or not repo.strip():
            problems.append(f'line {number}: "repo" must be the path of a folder')
            continue
        folder = Path(repo).expanduser()
        folder = (folder if folder.is_absolute() else path.parent / folder).resolve()
        if not folder.is_dir():
            problems.append(f"line {number}: repo {repo} is not an existing folder ({folder})")
            continue
        if not isinstance(task, str) or not task.strip():
            continue
        try:
            settings = load_settings(folder, flags=flags)
        except ConfigError as exc:
            problems.append(f"line {number}: {error_message(exc)}")
            continue
        items.append(BatchItem(number, folder, task, settings))
    if problems:
        raise UsageError(f"--batch {path} has {len(problems)} bad line(s):\n  " + "\n  ".join(problems))
    if not items:
        raise UsageError(f'--batch {path} holds no tasks; write one {{"repo": ..., "task": ...}} per line')
    return items


def _print_line(out: IO[str], text: str) -> None:
    safe_write(out, text + "\n")


async def run_items(
    items: list[BatchItem], output_format: str, workers: int, out: IO[str], err: IO[str]
) -> int:
    semaphore = asyncio.Semaphore(max(1, workers))
    approver = HeadlessApprover(err=err)
    interrupts = Interrupts(err)
    interrupts.install()

    async def one(item: BatchItem) -> Finished:
        sid = new_session_id()
        tags = {"session_id": sid, "repo": str(item.repo)}
        stream = StreamJsonPrinter(out, **tags) if output_format == "stream-json" else None

        def on_event(event: Event) -> None:
            if stream is not None:
                stream.event(event)

        async with semaphore:
            try:
                if interrupts.count:  # Ctrl-C came while this task waited its turn: don't start it
                    raise _NotStarted
                result = await run_task(
                    item.task,
                    item.repo,
                    item.settings,
                    on_event=on_event,
                    session_id=sid,
                    approver=approver,
                    interrupts=interrupts,
                    err=err,
                )
                finished, error = result.finished, result.error
            except (ModelError, ConfigError) as exc:  # this task could not start; the others still run
                finished, error = failed_result(sid, "error", error_message(exc)), exc
                on_event(finished)
            except _NotStarted:
                finished, error = (
                    failed_result(sid, "interrupted", "not started: the batch was interrupted"),
                    None,
                )
                on_event(finished)
        if error is not None and finished.status != "done":
            print_error(f"{item.repo} (line {item.line}): {error_message(error)}", err)
        if output_format == "json":
            safe_write(out, json_line(result_dict(finished, **tags)))
        elif output_format == "text":
            summary = " ".join((finished.summary or finished.reason).split())[:100]
            _print_line(
                out, f"{finished.status:<11} {item.repo}  session {sid}  {finished.steps} steps  {summary}"
            )
        return finished

    try:
        results = await asyncio.gather(*(one(item) for item in items))
    except asyncio.CancelledError:
        return EXIT_INTERRUPTED
    finally:
        interrupts.uninstall()
    if interrupts.count:
        return EXIT_INTERRUPTED
    return EXIT_DONE if all(r.status == "done" for r in results) else EXIT_FAILED


def run_batch(
    path: str,
    flags: dict[str, Any],
    output_format: str,
    workers: int,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
) -> int:
    """`rioagent run --batch`: 0 if every task is done, 1 otherwise, 2 for a bad batch file."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        items = read_batch(Path(path).expanduser(), flags)
    except UsageError as exc:
        print_error(str(exc), err)
        return EXIT_USAGE
    try:
        return asyncio.run(run_items(items, output_format, workers, out, err))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
