"""The completion list above the prompt: slash commands and @ file mentions. It never takes focus:
the prompt keeps typing while Up/Down/Tab steer the list."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from rioagent.tui.css import load_css


class CompletionMenu(OptionList, can_focus=False):
    DEFAULT_CSS = load_css(__file__)

    def __init__(self) -> None:
        super().__init__()
        self.kind = ""  # "command" | "mention"
        self.values: list[str] = []
        self.display = False

    def show(self, kind: str, items: list[tuple[str, str]]) -> None:
        """`items`: (value inserted on accept, hint shown beside it)."""
        self.kind = kind
        self.values = [value for value, _ in items]
        self.clear_options()
        options = []
        for value, hint in items:
            label = Text(value, style="bold")
            if hint:
                label.append("  " + hint, style="dim")
            options.append(Option(label))
        self.add_options(options)
        self.display = bool(items)
        if items:
            self.highlighted = 0

    def hide(self) -> None:
        self.display = False
        self.values = []
        self.kind = ""

    @property
    def current(self) -> str | None:
        if not self.display or self.highlighted is None or not self.values:
            return None
        return self.values[self.highlighted]

    def move(self, delta: int) -> None:
        if self.values:
            self.highlighted = ((self.highlighted or 0) + delta) % len(self.values)
