"""The model's thought: open and live while it streams, folded once the answer starts, with its size
in tokens in the title (estimated while streaming, the server's count when the turn ends).

A folded thought is one line: its text is built into widgets only when someone opens it (Enter or a
click). Most thoughts are never opened, and a replayed session has hundreds of them.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Markdown, Static

from rioagent.tui.css import load_css

TAIL_LINES = 6
TAIL_CHARS = 1200


class ThoughtBody(Markdown):
    """The thought's text (a type of its own so styles and tests can find it)."""


class Thought(Vertical, can_focus=True):
    DEFAULT_CSS = load_css(__file__)
    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "toggle", "Open/fold", show=False)]

    def __init__(self, text: str = "", *, step: int = 0, live: bool = True, tokens: int = 0):
        super().__init__(classes="-live" if live else "")
        self.text = text
        self.step = step
        self.live = live
        self.tokens = tokens
        self.collapsed = not live
        self.title = ""
        self.header = Static(classes="thought-title")
        self.body: ThoughtBody | None = None
        self.scroller: VerticalScroll | None = None
        # While it streams, only the thought's last lines show, as plain text: redrawing a bounded tail
        # costs the same at the first token and the ten-thousandth. The whole, as Markdown, on opening.
        self.tail = Static(classes="thought-tail")
        self._set_title()

    def compose(self):  # type: ignore[no-untyped-def]
        yield self.header
        if self.live:
            yield self.tail

    def _make_body(self) -> VerticalScroll:
        self.body = ThoughtBody(self.text)
        self.scroller = VerticalScroll(self.body, classes="thought-scroll")
        self.scroller.can_focus = False
        return self.scroller

    def _set_title(self) -> None:
        chars = len(self.text)
        if self.live:
            self.title = f"Thinking… ~{max(1, chars // 4)} tokens"
        else:
            count = self.tokens or chars // 4
            unit = "token" if count == 1 else "tokens"
            self.title = f"Thought · {count} {unit}" if self.tokens else f"Thought · ~{count} {unit}"
        self.header.update(Text(("▼ " if not self.collapsed else "▶ ") + self.title))

    async def write(self, text: str) -> None:
        if not text:
            return
        before = len(self.text) // 4
        self.text += text
        if len(self.text) // 4 != before:
            self._set_title()
        lines = self.text[-TAIL_CHARS:].splitlines()[-TAIL_LINES:]
        self.tail.update(Text("\n".join(lines), style="italic"))

    async def finish(self, tokens: int = 0) -> None:
        """The thought is over: fold it and show the real token count when the backend gave one."""
        self.live = False
        self.tokens = tokens
        self.remove_class("-live")
        self.collapsed = True
        self.tail.display = False
        self._set_title()

    async def action_toggle(self) -> None:
        if self.live:
            return
        self.collapsed = not self.collapsed
        if not self.collapsed and self.scroller is None:
            await self.mount(self._make_body())
        elif self.scroller is not None:
            self.scroller.display = not self.collapsed
        self._set_title()

    async def on_click(self) -> None:
        await self.action_toggle()
