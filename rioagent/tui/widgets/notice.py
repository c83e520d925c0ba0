"""Something the user should know that is neither the model's words nor a tool: a warning, a note.
Errors are shown calmly: a marked line, not an alarm."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from rioagent.tui.css import load_css

_ICONS = {"info": "·", "warning": "!", "error": "✗"}


class NoticeView(Static):
    DEFAULT_CSS = load_css(__file__)

    def __init__(self, message: str, *, level: str = "info", step: int = 0):
        level = level if level in _ICONS else "info"
        super().__init__(Text(f"{_ICONS[level]} {message}"), classes=f"-{level}")
        self.level = level
        self.message = message
        self.step = step
