"""Pick a past session to resume: newest first, with its status and first task."""

from __future__ import annotations

import time
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from rioagent.session import SessionInfo
from rioagent.tui.css import load_css


def _row(info: SessionInfo) -> Text:
    task = " ".join(info.task.split())
    task = task if len(task) <= 60 else task[:59] + "…"
    text = Text(info.id, style="bold")
    text.append("  " + time.strftime("%Y-%m-%d %H:%M", time.localtime(info.started)), style="dim")
    text.append(f"  {info.status:<11}  ")
    text.append(task or "(no task)")
    return text


class SessionsScreen(ModalScreen[str | None]):
    DEFAULT_CSS = load_css(__file__)
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Close")]

    def __init__(self, sessions: list[SessionInfo], current: str = ""):
        super().__init__()
        self.sessions = sessions
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="sessions"):
            yield Static(Text("Resume a session  (Enter resumes, Esc closes)", style="bold"))
            options = [Option(_row(info), id=info.id) for info in self.sessions if info.id != self.current]
            if options:
                yield OptionList(*options, id="session-list")
            else:
                yield Static("no other sessions yet", id="session-list")

    def on_mount(self) -> None:
        for widget in self.query("#session-list"):
            widget.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
