"""Streamed text waiting to be drawn: runs of one kind (the thought or the answer) in arrival order.

Queuing a token is a list append; the conversation takes what is queued at most every FLUSH_S and draws
it in one write per run, a bounded amount of answer at a time."""

from __future__ import annotations

KINDS = ("reasoning", "content")


class StreamQueue:
    def __init__(self) -> None:
        self._runs: list[tuple[str, list[str]]] = []
        self.backlog = 0  # characters of answer queued

    def __bool__(self) -> bool:
        return bool(self._runs)

    def put(self, kind: str, text: str) -> None:
        if self._runs and self._runs[-1][0] == kind:
            self._runs[-1][1].append(text)
        else:
            self._runs.append((kind, [text]))
        if kind == "content":
            self.backlog += len(text)

    def take(self, limit: int | None = None) -> list[tuple[str, str]]:
        """The runs to draw now, in order, with at most `limit` characters of answer (the rest stays
        queued). The thought is never held back: only its last lines are drawn, whatever its length."""
        out: list[tuple[str, str]] = []
        while self._runs:
            kind, pieces = self._runs[0]
            text = "".join(pieces)
            if kind == "content" and limit is not None:
                if limit <= 0:
                    break
                if len(text) > limit:
                    out.append((kind, text[:limit]))
                    self._runs[0] = (kind, [text[limit:]])
                    self.backlog -= limit
                    break
                limit -= len(text)
            self._runs.pop(0)
            out.append((kind, text))
            if kind == "content":
                self.backlog -= len(text)
        return out
