"""Append-only JSONL session logs: one event per line, so a crash loses at most the line being written.

A session lives in `state_dir()/sessions/<id>.jsonl`. Ids sort by time (`20261124-091530-ab12cd`) so the
newest session is the largest id, and any unique prefix of an id names it.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from rioagent.config import state_dir
from rioagent.events import TRANSIENT_EVENTS, Event, event_from_dict
from rioagent.output import json_line

log = logging.getLogger(__name__)


class SessionError(Exception):
    """A session could not be found or read; the message says which and what to do."""


def sessions_dir() -> Path:
    return state_dir() / "sessions"


def new_session_id(now: float | None = None) -> str:
    """A short id that sorts by creation time: date-time plus 6 random hex digits."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
    return f"{stamp}-{secrets.token_hex(3)}"


def session_path(session_id: str) -> Path:
    return sessions_dir() / f"{session_id}.jsonl"


class SessionLog:
    """Writes events to a session file as they happen; reopening an existing id appends (resume)."""

    def __init__(self, session_id: str, *, directory: Path | None = None):
        self.session_id = session_id
        folder = directory or sessions_dir()
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{session_id}.jsonl"
        self._fh: IO[str] | None = self.path.open("a", encoding="utf-8")

    def append(self, event: Event) -> None:
        if isinstance(event, TRANSIENT_EVENTS) or self._fh is None:
            return
        self._fh.write(json_line(event.to_dict()))
        # A flush per event keeps the file readable if we die; fsync is paid once, at close.
        self._fh.flush()

    def close(self) -> None:
        if self._fh is None:
            return
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        finally:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> SessionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a session file. A bad last line (a crash mid-write) is skipped with a warning;
    a bad line elsewhere means the file was damaged some other way, and is an error."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        raise SessionError(f"session file {path} does not exist") from None
    records: list[dict[str, Any]] = []
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            if i == last:
                log.warning(
                    "%s: skipping the truncated last line %d (the run was cut off while writing it)",
                    path,
                    i + 1,
                )
                continue
            raise SessionError(f"{path}:{i + 1}: not a JSON event ({exc}); the file is damaged") from None
        records.append(record)
    return records


def load_events(session_id: str, *, directory: Path | None = None) -> list[Event]:
    """Every logged event of a session, in order (unknown event types from newer versions are skipped)."""
    path = (directory or sessions_dir()) / f"{session_id}.jsonl"
    events: list[Event] = []
    for record in _read_lines(path):
        try:
            events.append(event_from_dict(record))
        except (ValueError, TypeError) as exc:
            log.warning("%s: skipping an event this version cannot read: %s", path, exc)
    return events


@dataclass
class SessionInfo:
    id: str
    path: Path
    started: float  # timestamp of the first event
    status: str  # the last result's status, or "incomplete" (still running, or cut off)
    task: str  # the first task of the session
    workspace: str
    model: str = ""
    runs: int = 0  # how many runs (the first and each resume) the file holds


def session_info(path: Path) -> SessionInfo:
    started, status, task, workspace, model, runs = path.stat().st_mtime, "incomplete", "", "", "", 0
    for i, record in enumerate(_read_lines(path)):
        kind = record.get("type")
        if i == 0:
            started = float(record.get("ts", started))
        if kind == "session_started":
            runs += 1
            status = "incomplete"
            if runs == 1:
                task = str(record.get("task", ""))
                workspace = str(record.get("workspace", ""))
            model = str(record.get("model", model))
        elif kind == "result":
            status = str(record.get("status", "unknown"))
    return SessionInfo(path.stem, path, started, status, task, workspace, model, runs)


def all_ids(directory: Path | None = None) -> list[str]:
    folder = directory or sessions_dir()
    if not folder.is_dir():
        return []
    return sorted((p.stem for p in folder.glob("*.jsonl")), reverse=True)


def list_sessions(directory: Path | None = None) -> list[SessionInfo]:
    """All sessions, newest first; a file that cannot be read is listed with status "unreadable"."""
    folder = directory or sessions_dir()
    infos = []
    for sid in all_ids(folder):
        path = folder / f"{sid}.jsonl"
        try:
            infos.append(session_info(path))
        except (SessionError, OSError):
            infos.append(SessionInfo(sid, path, path.stat().st_mtime, "unreadable", "", ""))
    return infos


def resolve_id(prefix: str, *, directory: Path | None = None) -> str:
    """The full id named by `prefix` (a whole id, or the start of exactly one)."""
    ids = all_ids(directory)
    prefix = prefix.strip()
    if prefix in ids:
        return prefix
    matches = [sid for sid in ids if prefix and sid.startswith(prefix)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        shown = ", ".join(matches[:8]) + (" ..." if len(matches) > 8 else "")
        raise SessionError(
            f"session id {prefix!r} is ambiguous: it starts {len(matches)} sessions ({shown}); "
            "give more of the id"
        )
    close = difflib.get_close_matches(prefix, ids, n=5, cutoff=0.5)
    hint = f"; close matches: {', '.join(close)}" if close else ""
    where = directory or sessions_dir()
    raise SessionError(f"no session {prefix!r} in {where}{hint} (see `rioagent sessions list`)")
