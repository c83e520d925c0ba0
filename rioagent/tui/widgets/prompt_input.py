"""The prompt: a multi-line text area where Enter sends and Shift+Enter or Ctrl+J starts a new line.
Keys that steer completion or history go to `key_hook` first (the PromptBar decides what they mean)."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual import events
from textual.widgets import TextArea

from rioagent.tui.css import load_css


class PromptInput(TextArea):
    DEFAULT_CSS = load_css(__file__)

    def __init__(self, key_hook: Callable[[str], bool] | None = None, **kwargs: object):
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)  # type: ignore[arg-type]
        self.key_hook = key_hook
        self.last_key_at = 0.0  # monotonic: the conversation holds streamed text back while someone types

    def on_mount(self) -> None:
        if self.app.is_headless:  # tests and snapshots: no one sees a blink, and it makes frames differ
            self.cursor_blink = False

    async def _on_key(self, event: events.Key) -> None:
        self.last_key_at = time.monotonic()
        if self.key_hook is not None and self.key_hook(event.key):
            event.stop()
            event.prevent_default()
            return
        if event.key in ("shift+enter", "ctrl+j"):
            event.stop()
            event.prevent_default()
            self.insert("\n")
            return
        await super()._on_key(event)

    @property
    def cursor_offset(self) -> int:
        return self.document.get_index_from_location(self.cursor_location)

    def set_text(self, text: str, cursor: int | None = None) -> None:
        """Replace everything and put the cursor at `cursor` (default: the end)."""
        self.load_text(text)
        where = len(text) if cursor is None else cursor
        self.cursor_location = self.document.get_location_from_index(where)

    @property
    def on_first_line(self) -> bool:
        return self.cursor_location[0] == 0

    @property
    def on_last_line(self) -> bool:
        return self.cursor_location[0] == self.document.line_count - 1
