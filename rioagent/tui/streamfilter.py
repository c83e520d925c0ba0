"""Streamed answer text without its tool calls: the model writes calls into the same stream as its
prose (Qwen3.5 XML), and those are shown as tool widgets, not as raw markup."""

from __future__ import annotations

OPEN = "<tool_call>"
CLOSE = "</tool_call>"


class ToolCallFilter:
    """Feed streamed text in; get back only what lies outside <tool_call>…</tool_call>. A tag split
    across pieces is held back until it is known whether it is one."""

    def __init__(self) -> None:
        self._held = ""
        self._inside = False

    def feed(self, text: str) -> str:
        buf = self._held + text
        self._held = ""
        out: list[str] = []
        while buf:
            tag = CLOSE if self._inside else OPEN
            at = buf.find(tag)
            if at >= 0:
                if not self._inside:
                    out.append(buf[:at])
                buf = buf[at + len(tag) :]
                self._inside = not self._inside
                continue
            keep = _partial_tail(buf, tag)
            if not self._inside:
                out.append(buf[: len(buf) - keep])
            self._held = buf[len(buf) - keep :] if keep else ""
            break
        return "".join(out)

    @property
    def inside(self) -> bool:
        return self._inside


def _partial_tail(text: str, tag: str) -> int:
    """Length of the longest end of `text` that is a beginning of `tag`."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-n:]):
            return n
    return 0
