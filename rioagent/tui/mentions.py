"""`@file` mentions: the workspace's files, fuzzy ranking for completion, and attaching the files named
in a prompt to what the model reads. Pure logic (listing files runs git, so callers use a thread)."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

MAX_FILES = 50_000
MAX_ATTACH_BYTES = 100_000
_SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".mypy_cache", ".tox"}
_MENTION = re.compile(r"(?<!\S)@(\S+)")
ATTACH_OPEN = "\n\n<attached-files>\n"
ATTACH_CLOSE = "</attached-files>"


def list_files(workspace: Path) -> list[str]:
    """Files worth mentioning, relative to the workspace: git's view (tracked and untracked, not ignored)
    inside a repository, else a walk that skips the usual tool folders."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=workspace, capture_output=True, timeout=10, check=True,
        ).stdout  # fmt: skip
        files = [p for p in out.decode("utf-8", "replace").split("\0") if p]
        return sorted(set(files))[:MAX_FILES]
    except (OSError, subprocess.SubprocessError):
        pass
    files = []
    for root, dirs, names in os.walk(workspace):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        rel = Path(root).relative_to(workspace)
        files.extend(str(rel / n) if str(rel) != "." else n for n in sorted(names))
        if len(files) >= MAX_FILES:
            break
    return files[:MAX_FILES]


def score(query: str, path: str) -> float | None:
    """How well `query` fuzzy-matches `path` (its letters in order); None when it does not. Matches at
    the start of a name part, runs of letters and matches in the file name score higher."""
    if not query:
        return -len(path) / 100
    q, p = query.lower(), path.lower()
    base = p.rfind("/") + 1
    if q in p[base:]:  # a plain substring of the file name beats any scattered match
        return 100 - (p[base:].index(q)) - len(p) / 100
    total, at, last = 0.0, 0, -2
    for ch in q:
        found = p.find(ch, at)
        if found < 0:
            return None
        total += 1
        if found == last + 1:
            total += 3
        if found == 0 or p[found - 1] in "/_-. ":
            total += 2
        if found >= base:
            total += 1
        last, at = found, found + 1
    return total - len(p) / 100


def rank(query: str, paths: list[str], limit: int = 20) -> list[str]:
    scored = [(s, path) for path in paths if (s := score(query, path)) is not None]
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [path for _, path in scored[:limit]]


@dataclass(frozen=True)
class Mention:
    start: int  # offset of the "@"
    end: int  # offset just past the token
    query: str  # what follows the "@"


def mention_at(text: str, cursor: int) -> Mention | None:
    """The `@token` the cursor is in (or just after), if any."""
    start = cursor
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    end = cursor
    while end < len(text) and not text[end].isspace():
        end += 1
    token = text[start:end]
    if not token.startswith("@"):
        return None
    return Mention(start, end, token[1:])


def _read(path: Path) -> str:
    data = path.read_bytes()[: MAX_ATTACH_BYTES + 1]
    if b"\0" in data[:8192]:
        return "[binary file: not attached]"
    text = data[:MAX_ATTACH_BYTES].decode("utf-8", "replace")
    if len(data) > MAX_ATTACH_BYTES:
        text += f"\n[... cut at {MAX_ATTACH_BYTES} bytes; use the view tool for the rest]"
    return text


def attach(text: str, workspace: Path) -> tuple[str, list[str]]:
    """The prompt with every `@path` that names a file in the workspace attached at its end, and the
    paths attached. Anything else after an "@" (an email, a decorator) is left as it is."""
    root = workspace.resolve()
    paths: list[str] = []
    for match in _MENTION.finditer(text):
        name = match.group(1).rstrip(".,;:!?)")
        target = (root / name).resolve()
        if name not in paths and target.is_file() and target.is_relative_to(root):
            paths.append(name)
    if not paths:
        return text, []
    blocks = []
    for name in paths:
        try:
            body = _read(root / name)
        except OSError as exc:
            body = f"[could not read: {exc.strerror or exc}]"
        blocks.append(f'<file path="{name}">\n{body.rstrip()}\n</file>\n')
    return text + ATTACH_OPEN + "".join(blocks) + ATTACH_CLOSE, paths


def split_attached(task: str) -> tuple[str, list[str]]:
    """A logged prompt as the user typed it, and the paths that were attached to it (for display)."""
    head, sep, tail = task.partition(ATTACH_OPEN)
    if not sep:
        return task, []
    return head, re.findall(r'<file path="([^"]*)">', tail)
