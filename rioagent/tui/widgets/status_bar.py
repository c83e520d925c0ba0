"""The bottom line: what the agent is doing (with a spinner), model and backend, context used, tokens in
and out, thinking, step, elapsed time, and the approval mode on the right."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.containers import Horizontal
from textual.widgets import Static

from rioagent.tui.css import load_css
from rioagent.tui.status import StatusInfo

MODE_HINT = "shift+tab"


class StatusBar(Horizontal):
    DEFAULT_CSS = load_css(__file__)

    def __init__(self, info: StatusInfo, *, clock: Callable[[], float] = time.monotonic, **kwargs: object):
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.info = info
        self.clock = clock
        self.frame = 0
        self.left = Static(classes="status-left")
        self.right = Static(classes="status-mode")

    def compose(self):  # type: ignore[no-untyped-def]
        yield self.left
        yield self.right

    def on_mount(self) -> None:
        # Ten frames a second only while the agent works; an idle bar costs nothing.
        self._timer = self.set_interval(0.1, self._tick, pause=not self.info.running)
        self.redraw()

    def _tick(self) -> None:
        self.frame = int(self.clock() * 10)  # from the clock, so a fixed clock draws a fixed frame
        self.redraw()

    def set_running(self, running: bool) -> None:
        self.info.running = running
        if running:
            self.info.started = self.clock()
            self._timer.resume()
        else:
            self._timer.pause()
        self.redraw()

    def redraw(self) -> None:
        mode = Text(f" ⏵ {self.info.approval} ", style="bold")
        mode.append(f"({MODE_HINT}) ", style="dim")
        self.right.update(mode)
        for name in ("ask", "auto-edit", "auto", "read-only"):
            self.right.set_class(self.info.approval == name, f"-{name}")
        width = max(20, self.size.width - mode.cell_len - 2) if self.size.width else 60
        self.left.update(Text(self.info.render(self.clock(), self.frame, width)))
        self.set_class(self.info.running, "-running")

    def on_resize(self) -> None:
        self.redraw()
