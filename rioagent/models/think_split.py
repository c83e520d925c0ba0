"""Split streamed model text at `</think>` into reasoning and answer chunks."""

from __future__ import annotations

from rioagent.models.base import StreamChunk
from rioagent.reasoning.swireasoning import THINK_END


class ThinkSplitter:
    """Splits raw completion text at `</think>` into reasoning and answer chunks, as it streams: a tag cut
    across chunks is held back until it is known, and the newlines right after the tag are dropped."""

    def __init__(self, *, in_thought: bool):
        self.in_thought = in_thought
        self._held = ""
        self._answer_started = False
        self._reasoning: list[str] = []
        self._content: list[str] = []

    @property
    def reasoning(self) -> str:
        return "".join(self._reasoning)

    @property
    def content(self) -> str:
        return "".join(self._content)

    def feed(self, text: str) -> list[StreamChunk]:
        if not self.in_thought:
            return self._answer(text)
        buffer = self._held + text
        self._held = ""
        at = buffer.find(THINK_END)
        if at >= 0:
            self.in_thought = False
            return self._thought(buffer[:at]) + self._answer(buffer[at + len(THINK_END) :])
        keep = _partial_tag(buffer)
        self._held = buffer[len(buffer) - keep :]
        return self._thought(buffer[: len(buffer) - keep])

    def flush(self) -> list[StreamChunk]:
        held, self._held = self._held, ""
        return self._thought(held)

    def _thought(self, text: str) -> list[StreamChunk]:
        if not text:
            return []
        self._reasoning.append(text)
        return [StreamChunk("reasoning", text)]

    def _answer(self, text: str) -> list[StreamChunk]:
        if not self._answer_started:
            text = text.lstrip("\n")
            self._answer_started = bool(text)
        if not text:
            return []
        self._content.append(text)
        return [StreamChunk("content", text)]


def _partial_tag(text: str) -> int:
    """Length of the longest end of `text` that begins `</think>` (held back until the next chunk)."""
    for size in range(min(len(text), len(THINK_END) - 1), 0, -1):
        if THINK_END.startswith(text[-size:]):
            return size
    return 0
