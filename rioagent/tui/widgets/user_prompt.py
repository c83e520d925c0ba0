"""The user's message in the conversation: what they typed, and the files they attached with @."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from rioagent.tui.css import load_css
from rioagent.tui.mentions import split_attached


class UserPrompt(Static):
    DEFAULT_CSS = load_css(__file__)

    def __init__(self, task: str, *, step: int):
        typed, attached = split_attached(task)
        text = Text(typed.strip())
        if attached:
            text.append("\n")
            text.append("attached: " + ", ".join(attached), style="italic")
        super().__init__(text)
        self.prompt_text = task
        self.step = step
