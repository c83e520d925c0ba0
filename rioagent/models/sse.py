"""Server-sent events, just enough for OpenAI-style streams: `data:` lines, blank-line dispatch, `[DONE]`."""

from __future__ import annotations

from collections.abc import AsyncIterator


class SSEDecoder:
    """Feed it lines (without their line ending); it returns each event's data when the event completes.

    Comment lines (`: ping`, sent by llama.cpp's server as keep-alives) and events with a type other than
    the default `message` are skipped: only data events carry completion chunks.
    """

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event = ""

    def feed(self, line: str) -> str | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None

    def flush(self) -> str | None:
        """The last event when the stream ended without its closing blank line."""
        return self._dispatch()

    def _dispatch(self) -> str | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data or event not in ("", "message", "error"):
            return None
        return "\n".join(data)


DONE = "[DONE]"


async def iter_sse_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """Yield each event's data from a stream of lines; stops after `[DONE]` (which is yielded too, so the
    caller can tell a finished stream from one that was cut off)."""
    decoder = SSEDecoder()
    async for line in lines:
        data = decoder.feed(line.rstrip("\r\n"))
        if data is None:
            continue
        yield data
        if data.strip() == DONE:
            return
    tail = decoder.flush()
    if tail is not None:
        yield tail
