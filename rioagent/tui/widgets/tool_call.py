"""One tool call: a header line (what runs, and how it ended) over a scrollable body: the command's
output, a syntax-highlighted diff for an edit, or a list of search hits. Enter folds or opens it."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar

from rich.console import RenderableType
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from rioagent.tui.css import load_css
from rioagent.tui.tool_format import EDIT_TOOLS, QUIET_TOOLS, body_kind, diff_text, parse_hits, summary

_EXIT_LINE = re.compile(r"\n?\[exit code: [^\]]*\]\s*$")
MAX_BODY_CHARS = 200_000  # beyond this the body shows the end; the model saw the tool's own cut


def _hits(hits: list[tuple[str, int, str]]) -> Text:
    text = Text()
    for i, (path, line, body) in enumerate(hits):
        if i:
            text.append("\n")
        text.append(path, style="bold")
        text.append(f":{line}", style="dim")
        text.append("  " + body.strip())
    return text


class ToolCallView(Vertical, can_focus=True):
    DEFAULT_CSS = load_css(__file__)
    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "toggle", "Open/fold", show=False)]

    def __init__(self, name: str, arguments: dict[str, Any], *, call_id: str = "", step: int = 0):
        super().__init__(classes="-running")
        self.tool_name = name
        self.arguments = arguments
        self.call_id = call_id
        self.step = step
        self.state = "running"
        self.note = ""
        self.header = Static(classes="tool-header")
        self.body = Static(classes="tool-body-text")
        self.scroller = VerticalScroll(self.body, classes="tool-body")
        self.scroller.can_focus = False  # the call itself takes focus; the wheel still scrolls it
        self.body_kind = ""
        self.output = ""
        self._extra = ""
        self._finished: dict[str, Any] | None = None  # what finish() was given, for a copy

    def compose(self):  # type: ignore[no-untyped-def]
        yield self.header
        yield self.scroller

    def on_mount(self) -> None:
        self._draw_header(self._extra)
        if self.body_kind:  # finished before it was mounted (a replayed session)
            return
        command = self.arguments.get("command")
        if self.tool_name == "bash" and isinstance(command, str) and "\n" in command.strip():
            self._show(Text(command.strip()))
        else:
            self.scroller.display = False

    def _draw_header(self, extra: str = "") -> None:
        self._extra = extra
        icons = {"running": "⋯", "waiting": "?", "done": "✓", "error": "✗", "denied": "⊘"}
        text = Text()
        text.append(icons.get(self.state, "·") + " ", style="bold")
        text.append(self.tool_name, style="bold")
        text.append("  " + summary(self.tool_name, self.arguments))
        if extra:
            text.append("  " + extra, style="dim")
        if self.note:
            text.append(f"  — {self.note}", style="italic")
        self.header.update(text)

    def _show(self, renderable: RenderableType) -> None:
        self.body.update(renderable)
        self.scroller.display = True

    def append_live(self, text: str) -> None:
        """Output of the running command as it arrives; `finish` replaces it with what the model saw."""
        self.output = (self.output + text)[-MAX_BODY_CHARS:]
        self._show(Text(self.output.rstrip("\n")))
        self.scroller.scroll_end(animate=False)

    def set_state(self, state: str, note: str = "") -> None:
        self.remove_class(f"-{self.state}")
        self.state, self.note = state, note
        self.add_class(f"-{state}")
        self._draw_header()

    def finish(self, output: str, *, is_error: bool, data: dict[str, Any], seconds: float) -> None:
        self._finished = {"output": output, "is_error": is_error, "data": data, "seconds": seconds}
        data = data or {}
        if self.state != "denied":
            self.set_state("error" if is_error else "done")
        extra = []
        if self.tool_name == "bash" and data.get("exit_code") not in (None, 0):
            extra.append(f"exit {data['exit_code']}")
        if seconds >= 0.1:
            extra.append(f"{seconds:.1f}s")
        self._draw_header(" · ".join(extra))
        if self.tool_name == "bash":
            output = _EXIT_LINE.sub("", output)
        if len(output) > MAX_BODY_CHARS:
            output = "…\n" + output[-MAX_BODY_CHARS:]
        self.output = output
        self.body_kind = body_kind(self.tool_name, self.arguments, output, data)
        if self.body_kind == "diff":
            self._show(diff_text(data.get("diff") or output))
        elif self.body_kind == "hits":
            self._show(_hits(parse_hits(output)))
        elif output.strip():
            self._show(Text(output.rstrip("\n")))
        else:
            self.scroller.display = False
        # A clean read or a clean edit says enough in its header and diff; keep the long reads folded.
        if self.tool_name in QUIET_TOOLS and not is_error:
            self.add_class("-folded")
        if self.tool_name in EDIT_TOOLS and is_error:
            self.remove_class("-folded")

    def recipe(self) -> Callable[[], ToolCallView] | None:
        """How to build a fresh copy of this finished call (a long session's view unmounts old widgets
        and builds them again when scrolled back to); None while it runs."""
        if self._finished is None:
            return None
        name, arguments, call_id, step = self.tool_name, self.arguments, self.call_id, self.step
        denied, note, finished = self.state == "denied", self.note, self._finished
        folded = self.has_class("-folded")

        def make() -> ToolCallView:
            view = ToolCallView(name, arguments, call_id=call_id, step=step)
            if denied:
                view.set_state("denied", note)
            view.finish(**finished)
            view.set_class(folded, "-folded")
            return view

        return make

    def action_toggle(self) -> None:
        self.toggle_class("-folded")
