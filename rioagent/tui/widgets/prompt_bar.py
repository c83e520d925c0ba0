"""The prompt with its helpers: history on Up/Down, completion of /commands and @file mentions.
Sends `PromptBar.Submitted` with the text; the app decides whether it is a command or a message."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Static, TextArea

from rioagent.tui import commands, mentions
from rioagent.tui.css import load_css
from rioagent.tui.history import PromptHistory
from rioagent.tui.widgets.completion_menu import CompletionMenu
from rioagent.tui.widgets.prompt_input import PromptInput

PLACEHOLDER = "Ask, or / for commands, @ to attach a file · Enter sends · Shift+Enter or Ctrl+J: new line"


class PromptBar(Vertical):
    DEFAULT_CSS = load_css(__file__)

    class Submitted(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, workspace: Path, history: PromptHistory | None = None, **kwargs: object):
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.workspace = workspace
        self.history = history or PromptHistory()
        self.menu = CompletionMenu()
        self.input = PromptInput(key_hook=self._key, placeholder=PLACEHOLDER, id="prompt-input")
        self._files: list[str] | None = None
        self._loading_files = False

    def compose(self):  # type: ignore[no-untyped-def]
        yield self.menu
        with Horizontal(classes="prompt-row"):
            yield Static("›", classes="prompt-mark")
            yield self.input

    @property
    def text(self) -> str:
        return self.input.text

    def set_text(self, text: str) -> None:
        self.input.set_text(text)

    def forget_files(self) -> None:
        """The files changed (a run ended): list them again at the next @."""
        self._files = None

    # ---- keys ------------------------------------------------------------------------------------------

    def _key(self, key: str) -> bool:
        """True when the key was used here (the text area must not see it)."""
        if self.menu.display:
            if key in ("up", "down"):
                self.menu.move(-1 if key == "up" else 1)
                return True
            if key == "tab":
                self._accept()
                return True
            if key == "enter":
                chosen = self.menu.current
                if self.menu.kind == "command" and chosen and self.text.strip() == chosen.strip():
                    self._submit()
                else:
                    self._accept()
                return True
            if key == "escape":
                self.menu.hide()
                return True
        if key == "enter":
            self._submit()
            return True
        if key == "up" and self.input.on_first_line:
            entry = self.history.previous(self.text)
            if entry is not None:
                self.input.set_text(entry)
            return True
        if key == "down" and self.input.on_last_line:
            entry = self.history.next()
            if entry is not None:
                self.input.set_text(entry)
            return True
        return False

    def _submit(self) -> None:
        text = self.text
        self.menu.hide()
        if not text.strip():
            return
        self.history.add(text)
        self.input.set_text("")
        self.post_message(self.Submitted(text))

    def _accept(self) -> None:
        chosen = self.menu.current
        if chosen is None:
            return
        text, cursor = self.text, self.input.cursor_offset
        if self.menu.kind == "command":
            self.input.set_text(chosen)
        else:
            found = mentions.mention_at(text, cursor)
            if found is not None:
                new = text[: found.start] + "@" + chosen + " " + text[found.end :].lstrip(" ")
                self.input.set_text(new, found.start + len(chosen) + 2)
        self.menu.hide()

    # ---- completion ------------------------------------------------------------------------------------

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        self.refresh_completions()

    def refresh_completions(self) -> None:
        text = self.text
        found = commands.complete(text)
        if found and not (len(found) == 1 and text == "/" + found[0].name):  # whole: nothing to offer
            self.menu.show("command", [("/" + c.name + (" " if c.args else ""), c.help) for c in found])
            return
        mention = mentions.mention_at(text, self.input.cursor_offset)
        if mention is None:
            self.menu.hide()
            return
        if self._files is None:
            if not self._loading_files:
                self._loading_files = True
                self.run_worker(self._load_files(), exclusive=True, group="files")
            return
        ranked = mentions.rank(mention.query, self._files, limit=8)
        self.menu.show("mention", [(path, "") for path in ranked])

    async def _load_files(self) -> None:
        try:
            self._files = await asyncio.to_thread(mentions.list_files, self.workspace)
        finally:
            self._loading_files = False
        self.refresh_completions()
