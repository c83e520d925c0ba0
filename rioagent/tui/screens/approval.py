"""The approval prompt: exactly what would run or change (the diff for an edit), and the answer:
allow once, allow always for this kind of call, or deny with an optional note for the model."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from rioagent.approval import ApprovalDecision
from rioagent.events import ApprovalRequested
from rioagent.tui.css import load_css
from rioagent.tui.tool_format import diff_text, is_diff


def preview_renderable(request: ApprovalRequested) -> Text:
    """The diff coloured by line; a command or the arguments as they are."""
    if is_diff(request.preview):
        return diff_text(request.preview)
    return Text(request.preview)


class ApprovalScreen(ModalScreen[ApprovalDecision]):
    DEFAULT_CSS = load_css(__file__)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "allow", "Allow once"),
        Binding("a", "always", "Allow always"),
        Binding("n", "deny", "Deny"),
        Binding("escape", "deny", "Deny", show=False),
    ]

    def __init__(self, request: ApprovalRequested, pattern: str):
        super().__init__()
        self.request = request
        self.pattern = pattern  # what "allow always" covers, in words

    def compose(self) -> ComposeResult:
        with Vertical(id="approval"):
            title = Text()
            title.append(f"Allow {self.request.name}?", style="bold")
            title.append(f"  {self.request.reason}", style="dim")
            yield Static(title, id="approval-title")
            with VerticalScroll(id="approval-preview"):
                yield Static(preview_renderable(self.request))
            with Horizontal(id="approval-buttons"):
                yield Button("[y] Allow once", id="allow", variant="success", compact=True)
                yield Button(f"[a] Always: {self.pattern}", id="always", variant="primary", compact=True)
                yield Button("[n] Deny", id="deny", variant="error", compact=True)
            yield Input(placeholder="note for the model when denying (optional; Enter denies)", id="note")

    def on_mount(self) -> None:
        self.query_one("#allow", Button).focus()

    def _note(self) -> str:
        return self.query_one("#note", Input).value.strip()

    def action_allow(self) -> None:
        self.dismiss(ApprovalDecision(True))

    def action_always(self) -> None:
        self.dismiss(ApprovalDecision(True, remember=True))

    def action_deny(self) -> None:
        self.dismiss(ApprovalDecision(False, note=self._note() or "denied by the user"))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        {"allow": self.action_allow, "always": self.action_always, "deny": self.action_deny}[
            event.button.id or "deny"
        ]()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_deny()
