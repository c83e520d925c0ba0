"""The line that closes a run: how it ended, in how long, and the final summary when there is one."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from rioagent.events import Finished
from rioagent.tui.css import load_css
from rioagent.tui.status import duration

_WORDS = {"done": "done", "interrupted": "interrupted", "limit": "stopped at a limit", "error": "stopped"}


class RunResult(Static):
    DEFAULT_CSS = load_css(__file__)

    def __init__(self, event: Finished, *, step: int = 0):
        word = _WORDS.get(event.status, event.status)
        line = f"── {word} · {event.steps} step{'s' if event.steps != 1 else ''} · {duration(event.seconds)}"
        if event.reason and event.status != "done":
            line += f" · {event.reason}"
        super().__init__(Text(line), classes=f"-{event.status}")
        self.status = event.status
        self.event = event  # to build a copy when a long session's view trims this one
        self.step = step
