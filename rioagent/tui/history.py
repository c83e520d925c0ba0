"""Prompt history for Up/Down, kept across sessions in the state dir (one JSON string per line)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

LIMIT = 500


class PromptHistory:
    def __init__(self, path: Path | None = None):
        self.path = path
        self.entries: list[str] = []
        self._index: int | None = None  # position while browsing; None: not browsing
        self._draft = ""  # what was typed before browsing began, given back past the newest entry
        if path is not None and path.is_file():
            with contextlib.suppress(OSError, ValueError):
                for line in path.read_text(encoding="utf-8").splitlines()[-LIMIT:]:
                    value = json.loads(line)
                    if isinstance(value, str):
                        self.entries.append(value)

    def add(self, text: str) -> None:
        self._index = None
        if not text.strip() or (self.entries and self.entries[-1] == text):
            return
        self.entries.append(text)
        del self.entries[:-LIMIT]
        if self.path is not None:
            # History is a convenience: a read-only home must not break sending a prompt.
            with contextlib.suppress(OSError):
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(text) + "\n")

    def previous(self, current: str) -> str | None:
        """The entry before the one shown (None at the oldest)."""
        if not self.entries:
            return None
        if self._index is None:
            self._draft = current
            self._index = len(self.entries)
        if self._index == 0:
            return None
        self._index -= 1
        return self.entries[self._index]

    def next(self) -> str | None:
        """The entry after the one shown; past the newest, the draft; None when not browsing."""
        if self._index is None:
            return None
        self._index += 1
        if self._index >= len(self.entries):
            self._index = None
            return self._draft
        return self.entries[self._index]
