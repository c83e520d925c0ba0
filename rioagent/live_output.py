"""A running tool's output on its way to the front end: written by the tool's worker thread, taken by the
agent loop in batches, so a command printing 50 MB costs the display a bounded tail, not 50 MB of events."""

from __future__ import annotations

import threading

LIVE_OUTPUT_INTERVAL = 0.1  # seconds between batches: smooth enough to watch, few enough events
LIVE_OUTPUT_LIMIT = 32 * 1024  # characters kept between two batches; older ones are dropped, with a count


class LiveOutput:
    def __init__(self, limit: int = LIVE_OUTPUT_LIMIT):
        self.limit = limit
        self._lock = threading.Lock()
        self._text = ""
        self._dropped = 0

    def __call__(self, text: str) -> None:
        with self._lock:
            self._text += text
            if len(self._text) > self.limit:
                cut = len(self._text) - self.limit
                self._dropped += cut
                self._text = self._text[cut:]

    def take(self) -> str:
        """What arrived since the last take, with a line saying how much was skipped to keep up."""
        with self._lock:
            text, dropped = self._text, self._dropped
            self._text, self._dropped = "", 0
        if dropped:
            return f"[... {dropped} characters skipped in the live view ...]\n{text}"
        return text
