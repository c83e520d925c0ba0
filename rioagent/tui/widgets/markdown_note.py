"""A note written in Markdown that is not the model's: /help, /diff, session summaries."""

from __future__ import annotations

from textual.widgets import Markdown

from rioagent.tui.css import load_css


class MarkdownNote(Markdown):
    DEFAULT_CSS = load_css(__file__)

    def __init__(self, markdown: str, *, step: int = 0, classes: str | None = None):
        super().__init__(markdown, classes=classes)
        self.step = step
