"""Streamed text waiting to be drawn: runs of one kind (the thought or the answer) in arrival order.

Queuing a token is a list append; the conversation takes what is queued in batches (sized and spaced
by Pace, below) and draws it in one write per run, a bounded amount of answer at a time."""

from __future__ import annotations


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


FLUSH_S = 0.04  # streamed text reaches the screen in batches at least this far apart
FLUSH_CHARS = 1500  # at most this much answer per batch (prose: a few ms to draw on a slow core)
MIN_FLUSH_CHARS = 200
BATCH_BUDGET_S = 0.015  # a batch should take about this long to draw (a code block costs ~8x prose)
DRAW_SHARE = 3  # a batch that took t to draw waits DRAW_SHARE * t before the next one


class Pace:
    """How much streamed answer goes into a batch and how long until the next one, learnt from what the
    last batch cost: the keyboard waits at most about one batch, and most of the time for none."""

    def __init__(self) -> None:
        self.interval = FLUSH_S
        self.chars = FLUSH_CHARS

    def after_batch(self, chars: int, seconds: float) -> None:
        self.interval = max(FLUSH_S, DRAW_SHARE * seconds)
        if chars >= MIN_FLUSH_CHARS and seconds > 0:
            fits = chars * BATCH_BUDGET_S / seconds
            self.chars = int(min(FLUSH_CHARS, max(MIN_FLUSH_CHARS, (self.chars + fits) / 2)))
