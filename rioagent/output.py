"""Headless printers: the same events as a human log (text), JSON Lines (stream-json) or one result (json).

Printers only consume events; they never reach into the agent. `sessions show` replays a log through the
text printer, so a live run and a replay read the same.
"""

from __future__ import annotations

import json
import re
import sys
from typing import IO, Any, Protocol

from rioagent.events import (
    TRANSIENT_EVENTS,
    ApprovalRequested,
    ApprovalResolved,
    AssistantMessage,
    Compacted,
    Event,
    Finished,
    Notice,
    SessionStarted,
    StepStarted,
    ToolFinished,
    ToolStarted,
    UserMessage,
)

OUTPUT_FORMATS = ("text", "json", "stream-json")

# Arguments too long to be worth a glance on a one-line summary (file bodies, edit texts, the final summary).
_BULKY = ("content", "file_text", "old_str", "new_str", "text", "summary")
_TOOL_CALL_XML = re.compile(r"<tool_call>.*?(?:</tool_call>|\Z)", re.DOTALL)


class Printer(Protocol):
    def event(self, event: Event) -> None: ...


def result_dict(finished: Finished, **extra: Any) -> dict[str, Any]:
    """The result object of a run as JSON output shows it (`type` is "result")."""
    return {**finished.to_dict(), **extra}


def json_line(data: dict[str, Any]) -> str:
    """One JSON line, UTF-8 safe: text read from odd files can hold lone surrogates, which UTF-8 cannot
    encode; those lines fall back to \\u escapes (still valid JSON, read back unchanged)."""
    text = json.dumps(data, ensure_ascii=False, default=str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(data, ensure_ascii=True, default=str)
    return text + "\n"


def safe_write(out: IO[str], text: str) -> None:
    try:
        out.write(text)
    except UnicodeEncodeError:  # a terminal that cannot show some character, or a lone surrogate
        encoding = getattr(out, "encoding", None) or "utf-8"
        out.write(text.encode(encoding, "replace").decode(encoding))
    out.flush()


def _write_json(out: IO[str], data: dict[str, Any]) -> None:
    safe_write(out, json_line(data))


class StreamJsonPrinter:
    """One JSON object per event, flushed, so a consumer can follow the run live.

    Streaming deltas are left out: the finished AssistantMessage carries the same text.
    `extra` keys (batch: session_id, repo) are added to every line so interleaved runs stay apart.
    """

    def __init__(self, out: IO[str] | None = None, **extra: Any):
        self.out = out or sys.stdout
        self.extra = extra

    def event(self, event: Event) -> None:
        if isinstance(event, TRANSIENT_EVENTS):
            return
        _write_json(self.out, {**event.to_dict(), **self.extra})


class JsonPrinter:
    """Only the final result object."""

    def __init__(self, out: IO[str] | None = None, **extra: Any):
        self.out = out or sys.stdout
        self.extra = extra

    def event(self, event: Event) -> None:
        if isinstance(event, Finished):
            _write_json(self.out, result_dict(event, **self.extra))


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def describe_call(name: str, arguments: dict[str, Any], limit: int = 120) -> str:
    """A tool call on one line: the command or path first, since that is what a reader looks for."""
    for key in ("command", "path", "pattern", "query"):
        if isinstance(arguments.get(key), str):
            rest = {k: v for k, v in arguments.items() if k != key and k not in _BULKY}
            tail = " ".join(f"{k}={_one_line(str(v), 30)}" for k, v in rest.items())
            return _one_line(f"{name} {arguments[key]}" + (f"  ({tail})" if tail else ""), limit)
    args = " ".join(f"{k}={_one_line(str(v), 40)}" for k, v in arguments.items() if k not in _BULKY)
    return _one_line(f"{name} {args}".strip(), limit)


def output_preview(output: str, lines: int = 4, width: int = 160) -> list[str]:
    """The first line and the last few: a command's verdict (the error, the exit code) comes at the end."""
    rows = [row.rstrip() for row in output.strip("\n").splitlines()] or ["(no output)"]
    if len(rows) > lines:
        tail = max(1, lines - 1)
        rows = [rows[0], f"… ({len(rows) - 1 - tail} more lines)", *rows[-tail:]]
    return [row if len(row) <= width else row[: width - 1] + "…" for row in rows]


def changed_files(patch: str) -> list[str]:
    return re.findall(r"^diff --git a/(\S+) b/", patch, re.MULTILINE)


class TextPrinter:
    """A readable log: step headers, one line per tool call with a short output preview, the summary."""

    def __init__(self, out: IO[str] | None = None, *, show_thoughts: bool = True):
        self.out = out or sys.stdout
        self.show_thoughts = show_thoughts

    def _say(self, text: str = "") -> None:
        safe_write(self.out, text + "\n")

    def event(self, event: Event) -> None:
        if isinstance(event, SessionStarted):
            again = " (resumed)" if event.resumed else ""
            self._say(
                f"session {event.session_id}{again} · {event.model} ({event.backend}) · {event.workspace}"
            )
            self._say(f"task: {event.task}")
        elif isinstance(event, UserMessage):
            self._say(f"> {event.content}")
        elif isinstance(event, StepStarted):
            self._say(f"\n── step {event.step} ──")
        elif isinstance(event, AssistantMessage):
            if self.show_thoughts and event.reasoning.strip():
                self._say(f"  thought: {_one_line(event.reasoning, 200)}")
            prose = _TOOL_CALL_XML.sub("", event.content).strip()
            if prose:
                self._say(prose)
        elif isinstance(event, ToolStarted):
            self._say(f"→ {describe_call(event.name, event.arguments)}")
        elif isinstance(event, ToolFinished) and event.name != "finish":  # its summary closes the log
            mark = "✗" if event.is_error else "✓"
            for i, row in enumerate(output_preview(event.output)):
                self._say(f"  {mark if i == 0 else ' '} {row}")
        elif isinstance(event, ApprovalRequested):
            self._say(f"? approval needed for {event.name}: {event.reason}")
        elif isinstance(event, ApprovalResolved):
            verdict = "allowed" if event.allowed else "denied"
            self._say(f"  {verdict}" + (f": {event.note}" if event.note else ""))
        elif isinstance(event, Notice):
            self._say(f"! {event.level}: {event.message}")
        elif isinstance(event, Compacted):
            self._say(f"· context compacted: {event.tokens_before} → {event.tokens_after} tokens")
        elif isinstance(event, Finished):
            self._finished(event)

    def _finished(self, event: Finished) -> None:
        tokens = event.usage.get(
            "total_tokens", sum(v for k, v in event.usage.items() if k != "reasoning_tokens")
        )
        self._say(
            f"\n══ {event.status} after {event.steps} steps · {tokens} tokens · {event.seconds:.1f}s ══"
        )
        if event.reason and event.status != "done":
            self._say(f"reason: {event.reason}")
        if event.summary:
            self._say(event.summary)
        files = changed_files(event.patch)
        if files:
            self._say("changed: " + ", ".join(files))


def make_printer(output_format: str, out: IO[str] | None = None, **extra: Any) -> Printer:
    if output_format == "stream-json":
        return StreamJsonPrinter(out, **extra)
    if output_format == "json":
        return JsonPrinter(out, **extra)
    return TextPrinter(out)
