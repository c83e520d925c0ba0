"""Markdown that grows at the end, kept as top-level blocks: every block but the last is finished (nothing
appended later can change it), so a view renders each finished block once and, per append, only the
open last one. Parsing looks at the open block alone, so an append costs the same late in a long
answer as early on.
"""

from __future__ import annotations

from functools import cache
from itertools import pairwise

from markdown_it import MarkdownIt


@cache
def markdown_parser() -> MarkdownIt:
    # What Rich's Markdown parses with: tables and strikethrough on top of CommonMark.
    return MarkdownIt().enable("strikethrough").enable("table")


def block_starts(source: str) -> list[int]:
    """The line numbers where the top-level blocks of `source` start."""
    starts = []
    for token in markdown_parser().parse(source):
        if token.level == 0 and token.map is not None and token.nesting >= 0:
            starts.append(token.map[0])
    return starts


class MarkdownBlocks:
    def __init__(self, source: str = ""):
        self.finished: list[str] = []  # each block's source, with the blank lines after it
        self.open = ""  # the last block, which an append may still change
        self.append(source)

    @property
    def source(self) -> str:
        return "".join(self.finished) + self.open

    @property
    def blocks(self) -> list[str]:
        return [*self.finished, self.open] if self.open.strip() else list(self.finished)

    def append(self, text: str) -> int:
        """Add text at the end; returns how many blocks it finished."""
        if not text:
            return 0
        self.open += text
        starts = block_starts(self.open)
        if len(starts) < 2:
            return 0
        lines = self.open.splitlines(keepends=True)
        done = [("".join(lines[a:b])) for a, b in pairwise(starts)]
        if starts[0] > 0:  # blank lines before the first block belong with it
            done[0] = "".join(lines[: starts[0]]) + done[0]
        self.finished.extend(done)
        self.open = "".join(lines[starts[-1] :])
        return len(done)


def split_fence(block: str) -> tuple[str, list[str], str] | None:
    """A fenced code block as (opening line, code lines, closing line), the closing line made up when the
    fence is still open; None for any other block."""
    lines = block.splitlines(keepends=True)
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        return None
    opener = lines[0].lstrip()
    marker = opener[: len(opener) - len(opener.lstrip(opener[0]))] if opener[:1] in ("`", "~") else ""
    if len(marker) < 3:
        return None
    body = lines[1:]
    last = body[-1].strip() if body else ""
    if body and last.startswith(marker) and not last.strip(marker[0]):
        return lines[0], body[:-1], body[-1]
    if body and not body[-1].endswith("\n"):
        body[-1] += "\n"
    return lines[0], body, marker + "\n"
