"""How a tool call reads in the conversation: a one-line summary and the kind of body to show.
Pure logic, so the widget stays small and this stays testable."""

from __future__ import annotations

import re
from typing import Any

from rich.text import Text

EDIT_TOOLS = {"str_replace", "create", "insert", "undo_edit"}
QUIET_TOOLS = {"view"}  # their output is long and the model's business: folded until opened
_HIT = re.compile(r"^(?P<path>[^\s:][^:]*):(?P<line>\d+)[:-](?P<text>.*)$")


def one_line(text: str, width: int = 72) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    more = "…" if len(first) > width or "\n" in text.strip() else ""
    return first[:width] + more


def summary(name: str, arguments: dict[str, Any]) -> str:
    """What the call does, in a few words: the command, the path, the git subcommand."""
    command = arguments.get("command")
    if name == "bash" and isinstance(command, str):
        return one_line(command)
    if name == "git" and isinstance(command, str):
        extra = arguments.get("path") or arguments.get("revision") or ""
        return f"{command} {extra}".strip()
    path = arguments.get("path")
    if isinstance(path, str):
        lines = ""
        if name == "view" and arguments.get("start_line"):
            lines = f":{arguments['start_line']}-{arguments.get('end_line', '')}".rstrip("-")
        return path + lines
    for key in ("pattern", "query", "summary"):
        if isinstance(arguments.get(key), str):
            return one_line(arguments[key])
    return one_line(", ".join(f"{k}={v!r}" for k, v in arguments.items()))


def is_diff(text: str) -> bool:
    return text.startswith(("--- ", "diff --git")) or bool(re.search(r"^@@ .* @@", text, re.M))


def parse_hits(output: str, limit: int = 200) -> list[tuple[str, int, str]]:
    """`path:line:text` rows (grep -n, ripgrep) when the output is mostly made of them, else []."""
    lines = [line for line in output.splitlines() if line.strip()]
    hits = [(m["path"], int(m["line"]), m["text"]) for line in lines if (m := _HIT.match(line))]
    if not hits or len(hits) < 0.6 * len(lines):
        return []
    return hits[:limit]


def body_kind(name: str, arguments: dict[str, Any], output: str, data: dict[str, Any]) -> str:
    """ "diff", "hits" or "text": how the finished call's body is drawn."""
    if isinstance(data.get("diff"), str) and data["diff"].strip():
        return "diff"
    if name == "git" and arguments.get("command") in ("diff", "show") and is_diff(output):
        return "diff"
    if name in ("search", "grep") or (name == "bash" and parse_hits(output)):
        return "hits" if parse_hits(output) else "text"
    return "text"


_DIFF_STYLES = (("+++", "bold"), ("---", "bold"), ("@@", "cyan"), ("+", "green"), ("-", "red"))


def diff_text(diff: str) -> Text:
    """A unified diff coloured by line, in the terminal's own green and red (readable in both themes,
    no background of its own)."""
    text = Text()
    for i, line in enumerate(diff.rstrip("\n").splitlines()):
        if i:
            text.append("\n")
        style = next((s for prefix, s in _DIFF_STYLES if line.startswith(prefix)), "")
        text.append(line, style=style)
    return text
