"""File tools: view, create, str_replace, insert, undo_edit.

Edits work on the text with "\\n" line endings and are written back in the file's own encoding, BOM and
line endings, atomically, keeping its permissions. Every edit is recorded so undo_edit can step back."""

from __future__ import annotations

import difflib
import hashlib
import re
import stat
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from rioagent.tools.atomic import NotTextError, TextFile, atomic_write, decode
from rioagent.tools.base import ToolContext, ToolError, ToolResult

MAX_FILE_BYTES = 32 * 1024 * 1024
VIEW_MAX_LINES = 400
VIEW_MAX_CHARS = 20_000
VIEW_MAX_LINE_CHARS = 2_000
SNIPPET_CONTEXT = 3
SNIPPET_MAX_LINES = 40
UNDO_LEVELS = 20
TREE_DEPTH = 2
TREE_MAX_ENTRIES = 60  # per folder
TREE_MAX_LINES = 400
ALWAYS_SKIP = {".git", "node_modules", "__pycache__", ".venv", ".mypy_cache", ".pytest_cache", ".ruff_cache"}

_IMAGE_EXTENSIONS = {
    ".png": "PNG image", ".jpg": "JPEG image", ".jpeg": "JPEG image", ".gif": "GIF image",
    ".webp": "WebP image", ".bmp": "BMP image", ".ico": "icon", ".tif": "TIFF image",
    ".tiff": "TIFF image", ".heic": "HEIC image", ".avif": "AVIF image", ".pdf": "PDF document",
}  # fmt: skip
_MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "PNG image"), (b"\xff\xd8\xff", "JPEG image"), (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"), (b"%PDF-", "PDF document"), (b"BM", "BMP image"),
    (b"\x00\x00\x01\x00", "icon"), (b"II*\x00", "TIFF image"), (b"MM\x00*", "TIFF image"),
]  # fmt: skip
_LINE_NUMBER_PREFIX = re.compile(r"^\s*\d+\t")
_HUNK = re.compile(r"^@@ -(\d+)((?:,\d+)?) \+(\d+)((?:,\d+)?) @@")


# ---------------------------------------------------------------- edit history


@dataclass
class _Entry:
    before: bytes | None  # None: the edit created the file
    mode: int | None
    after_digest: str  # to notice changes made after our edit (by a command, say)
    created_dirs: list[Path] = field(default_factory=list)


class EditHistory:
    """Per-path stacks of the bytes each file had before an edit made through these tools."""

    def __init__(self, levels: int = UNDO_LEVELS):
        self.levels = levels
        self._stacks: dict[str, deque[_Entry]] = {}

    def record(self, path: Path, entry: _Entry) -> None:
        self._stacks.setdefault(str(path), deque(maxlen=self.levels)).append(entry)

    def pop(self, path: Path) -> _Entry | None:
        stack = self._stacks.get(str(path))
        if not stack:
            return None
        entry = stack.pop()
        if not stack:
            del self._stacks[str(path)]
        return entry

    def depth(self, path: Path) -> int:
        return len(self._stacks.get(str(path), ()))

    def paths(self) -> list[Path]:
        """Files with something to undo, in the order they were first edited."""
        return [Path(p) for p in self._stacks]


def edit_history(ctx: ToolContext) -> EditHistory:
    """This session's edit history (created on first use)."""
    history = ctx.state.get("edit_history")
    if not isinstance(history, EditHistory):
        history = ctx.state["edit_history"] = EditHistory()
    return history


# ---------------------------------------------------------------- view


def view(
    ctx: ToolContext, path: str, start_line: int | None = None, end_line: int | None = None
) -> ToolResult:
    """A file with numbered lines (paged), or a folder as a tree."""
    target = ctx.resolve(path)
    if target.is_dir():
        return ToolResult(_tree(ctx, target))
    if not target.exists():
        raise ToolError(_missing(ctx, target))
    raw = _read_bytes(ctx, target)
    kind = _image_kind(target, raw)
    if kind:
        raise ToolError(
            f"{ctx.display(target)} is a {kind} ({len(raw)} bytes); view shows text only. "
            "Describe what you need from it differently, or inspect it with bash tools (`file`, `identify`)."
        )
    tf = _decode(ctx, target, raw)
    return ToolResult(_numbered_page(ctx, target, tf, start_line, end_line))


def _numbered_page(
    ctx: ToolContext, target: Path, tf: TextFile, start_line: int | None, end_line: int | None
) -> str:
    name = ctx.display(target)
    lines = _lines(tf.text)
    total = len(lines)
    notes = []
    if tf.encoding != "utf-8" or tf.bom:
        notes.append(f"decoded as {tf.encoding_label}")
    if tf.newline != "\n" or tf.mixed_newlines:
        notes.append(f"{'mixed, mostly ' if tf.mixed_newlines else ''}{tf.newline_label} line endings")
    header = f"[{name}: {', '.join(notes)}; edits keep them]\n" if notes else ""
    if total == 0:
        return f"{header}[{name} is empty]"
    start = 1 if start_line is None or start_line == 0 else start_line
    if start < 0:
        raise ToolError(f"start_line must be 1 or more (lines are numbered from 1); got {start_line}")
    if start > total:
        raise ToolError(f"start_line {start} is past the end: {name} has {total} lines")
    end = total if end_line is None or end_line == -1 else min(end_line, total)
    if end < start:
        raise ToolError(f"end_line {end_line} is before start_line {start}; use -1 to read to the end")
    out: list[str] = []
    chars = 0
    shown_end = start - 1
    for no in range(start, end + 1):
        line = lines[no - 1]
        if len(line) > VIEW_MAX_LINE_CHARS:
            line = f"{line[:VIEW_MAX_LINE_CHARS]}… [line truncated: {len(line)} chars]"
        row = f"{no:>6}\t{line}"
        if out and (len(out) >= VIEW_MAX_LINES or chars + len(row) > VIEW_MAX_CHARS):
            break
        out.append(row)
        chars += len(row) + 1
        shown_end = no
    body = header + "\n".join(out)
    if shown_end < end:
        body += (
            f"\n[showing lines {start}-{shown_end} of {total}; "
            f"call view with start_line={shown_end + 1} to see more]"
        )
    return body


def _tree(ctx: ToolContext, folder: Path) -> str:
    workspace = ctx.workspace.resolve()
    ignorer = _Ignorer(workspace if folder.is_relative_to(workspace) else folder)
    name = ctx.display(folder)
    rows = [f"{'.' if name == '.' else name}/"]
    truncated = False

    def walk(current: Path, depth: int) -> None:
        nonlocal truncated
        entries = _visible_entries(current, ignorer)
        for i, entry in enumerate(entries):
            if len(rows) >= TREE_MAX_LINES or i >= TREE_MAX_ENTRIES:
                rows.append(f"{'  ' * depth}… {len(entries) - i} more entries")
                truncated = True
                return
            if entry.is_dir() and not entry.is_symlink():
                count = len(_visible_entries(entry, ignorer))
                rows.append(f"{'  ' * depth}{entry.name}/  ({count} {'entry' if count == 1 else 'entries'})")
                if depth < TREE_DEPTH:
                    walk(entry, depth + 1)
            else:
                rows.append(f"{'  ' * depth}{entry.name}  {_size(entry)}")

    walk(folder, 1)
    if len(rows) == 1:
        rows.append("  (empty, or everything in it is ignored)")
    footer = f"[tree to depth {TREE_DEPTH}; .gitignore'd files and {', '.join(sorted(ALWAYS_SKIP))} left out"
    if truncated:
        footer += "; view a subfolder to see more"
    return "\n".join([*rows, footer + "]"])


def _visible_entries(folder: Path, ignorer: _Ignorer) -> list[Path]:
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    keep = [e for e in entries if e.name not in ALWAYS_SKIP and not ignorer.ignored(e, e.is_dir())]
    return sorted(keep, key=lambda e: (not e.is_dir(), e.name.lower()))


def _size(path: Path) -> str:
    try:
        size = path.stat().st_size
    except OSError:
        return "(unreadable)"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


class _Ignorer:
    """Git's ignore rules: every .gitignore from `root` down, the deepest deciding first."""

    def __init__(self, root: Path):
        self.root = root
        self._specs: dict[Path, pathspec.GitIgnoreSpec | None] = {}

    def _spec(self, folder: Path) -> pathspec.GitIgnoreSpec | None:
        if folder not in self._specs:
            try:
                lines = (folder / ".gitignore").read_text(encoding="utf-8", errors="replace").splitlines()
                self._specs[folder] = pathspec.GitIgnoreSpec.from_lines(lines)
            except OSError:
                self._specs[folder] = None
        return self._specs[folder]

    def ignored(self, path: Path, is_dir: bool) -> bool:
        folder = path.parent
        while True:
            spec = self._spec(folder)
            if spec is not None:
                rel = path.relative_to(folder).as_posix() + ("/" if is_dir else "")
                decision = spec.check_file(rel).include
                if decision is not None:
                    return decision
            if folder == self.root or folder == folder.parent or not folder.is_relative_to(self.root):
                return False
            folder = folder.parent


# ---------------------------------------------------------------- edits


def create(ctx: ToolContext, path: str, content: str) -> ToolResult:
    """Write a whole file, making parent folders; an existing file is overwritten (and undoable)."""
    target = ctx.resolve(path)
    name = ctx.display(target)
    if target.is_dir():
        raise ToolError(f"{name} is a directory; give a file path")
    if target.exists():
        raw = _read_bytes(ctx, target)
        try:
            # Keep the old file's encoding and line endings: the model always writes "\n".
            tf = decode(raw)
            tf.text = content.replace("\r\n", "\n")
            tf.mixed_newlines = False
        except NotTextError:
            tf = TextFile(content)
        old_text = _decode_quiet(raw)
        data = _encode(tf, tf.text, name)
        _commit(ctx, target, raw, data)
        diff = _full_diff(old_text, tf.text, name) if old_text is not None else ""
        out = f"Overwrote {name} ({_count_lines(old_text or '')} lines before, {_count_lines(tf.text)} now)."
        return _result(ctx, target, out, diff)
    created_dirs = _make_parents(ctx, target)
    data = _encode(TextFile(content), content, name)
    _commit(ctx, target, None, data, created_dirs=created_dirs)
    diff = _full_diff("", content, name, new_file=True)
    return _result(ctx, target, f"Created {name} ({_count_lines(content)} lines, {len(data)} bytes).", diff)


def str_replace(ctx: ToolContext, path: str, old_str: str, new_str: str) -> ToolResult:
    """Replace the one exact occurrence of `old_str` with `new_str`."""
    target, raw, tf = _open_for_edit(ctx, path)
    name = ctx.display(target)
    old_str = old_str.replace("\r\n", "\n")
    new_str = new_str.replace("\r\n", "\n")
    if not old_str:
        raise ToolError("old_str is empty; to add text use insert, to write a whole file use create")
    if old_str == new_str:
        raise ToolError("old_str and new_str are the same: nothing would change")
    text = tf.text
    count = text.count(old_str)
    if count == 0:
        raise ToolError(_no_match_message(name, text, old_str, tf))
    if count > 1:
        raise ToolError(_many_matches_message(name, text, old_str, count))
    at = text.index(old_str)
    new_text = text[:at] + new_str + text[at + len(old_str) :]
    data = _encode(tf, new_text, name)
    _commit(ctx, target, raw, data)
    change = _Change(text, new_text, at, at + len(old_str), at + len(new_str))
    out = f"Edited {name}. The changed region now reads:\n{change.snippet()}"
    return _result(ctx, target, out + _newline_note(tf), change.diff(name))


def insert(ctx: ToolContext, path: str, insert_line: int, text: str) -> ToolResult:
    """Insert `text` after line `insert_line` (0 = the top, -1 = the end)."""
    target, raw, tf = _open_for_edit(ctx, path)
    name = ctx.display(target)
    piece = text.replace("\r\n", "\n")
    if not piece:
        raise ToolError("text is empty: nothing to insert")
    old = tf.text
    total = _count_lines(old)
    line = total if insert_line == -1 else insert_line
    if not 0 <= line <= total:
        raise ToolError(
            f"insert_line {insert_line} is out of range: {name} has {total} lines; "
            f"use 0 for the top, {total} (or -1) to append"
        )
    at = _line_offset(old, line)
    if at == len(old) and old and not old.endswith("\n"):
        # Appending to a file without a final newline: keep it without one.
        piece = "\n" + piece.removesuffix("\n")
    elif not piece.endswith("\n"):
        piece += "\n"
    new_text = old[:at] + piece + old[at:]
    data = _encode(tf, new_text, name)
    _commit(ctx, target, raw, data)
    change = _Change(old, new_text, at, at, at + len(piece))
    out = f"Inserted {_count_lines(piece)} line(s) after line {line} of {name}:\n{change.snippet()}"
    return _result(ctx, target, out + _newline_note(tf), change.diff(name))


def undo_edit(ctx: ToolContext, path: str) -> ToolResult:
    """Put the file back as it was before the last edit made with these tools."""
    target = ctx.resolve(path)
    name = ctx.display(target)
    history = edit_history(ctx)
    entry = history.pop(target)
    if entry is None:
        raise ToolError(
            f"no edits to undo for {name} in this session (undo covers create, str_replace and insert; "
            "changes made by commands must be reverted with commands, e.g. git checkout)"
        )
    current = target.read_bytes() if target.is_file() else None
    note = ""
    if current is not None and _digest(current) != entry.after_digest:
        note = "\nNote: the file had changed since that edit (by a command?); those changes are undone too."
    current_text = _decode_quiet(current) if current is not None else ""
    if entry.before is None:
        if current is not None:
            target.unlink()
        for folder in entry.created_dirs:  # deepest first
            try:
                folder.rmdir()
            except OSError:
                break  # not empty any more: something else lives there now
        diff = _full_diff(current_text or "", "", name, deleted=True)
        return _result(ctx, target, f"Undid the creation of {name}: the file is deleted.{note}", diff)
    target.parent.mkdir(parents=True, exist_ok=True)  # in case a command removed the folder since
    atomic_write(target, entry.before, entry.mode)
    left = history.depth(target)
    before_text = _decode_quiet(entry.before)
    diff = _full_diff(current_text or "", before_text, name) if before_text is not None else ""
    out = f"Restored {name} to its state before the last edit ({left} more undo level(s) for it).{note}"
    return _result(ctx, target, out, diff)


# ---------------------------------------------------------------- shared pieces


def _open_for_edit(ctx: ToolContext, path: str) -> tuple[Path, bytes, TextFile]:
    target = ctx.resolve(path)
    if target.is_dir():
        raise ToolError(f"{ctx.display(target)} is a directory; give a file path")
    if not target.exists():
        raise ToolError(f"{_missing(ctx, target)}; use create to make a new file")
    raw = _read_bytes(ctx, target)
    return target, raw, _decode(ctx, target, raw)


def _read_bytes(ctx: ToolContext, target: Path) -> bytes:
    st = target.stat()
    if not stat.S_ISREG(st.st_mode):
        raise ToolError(f"{ctx.display(target)} is not a regular file (a device, socket or pipe)")
    if st.st_size > MAX_FILE_BYTES:
        raise ToolError(
            f"{ctx.display(target)} is {st.st_size} bytes, too large for the file tools; "
            "use bash tools (`sed -n '100,200p'`, `grep -n`) to read it"
        )
    try:
        return target.read_bytes()
    except PermissionError as exc:
        raise ToolError(f"{ctx.display(target)} cannot be read: permission denied") from exc


def _decode(ctx: ToolContext, target: Path, raw: bytes) -> TextFile:
    try:
        return decode(raw)
    except NotTextError as exc:
        raise ToolError(
            f"{ctx.display(target)} is a binary file ({exc}), {len(raw)} bytes; "
            "use bash tools like `xxd | head` if you must"
        ) from exc


def _decode_quiet(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return decode(raw).text
    except NotTextError:
        return None


def _encode(tf: TextFile, text: str, name: str) -> bytes:
    try:
        return tf.encode(text)
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end]
        raise ToolError(
            f"{name} is stored as {tf.encoding}, which cannot hold {bad!r}; "
            "write it with characters that encoding has (e.g. an ASCII equivalent or an escape sequence)"
        ) from exc


def _commit(
    ctx: ToolContext, target: Path, before: bytes | None, data: bytes, created_dirs: list[Path] | None = None
) -> None:
    mode = stat.S_IMODE(target.stat().st_mode) if before is not None else None
    try:
        atomic_write(target, data)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ToolError(f"cannot write {ctx.display(target)}: {reason}; the file is unchanged") from exc
    edit_history(ctx).record(target, _Entry(before, mode, _digest(data), created_dirs or []))


def _make_parents(ctx: ToolContext, target: Path) -> list[Path]:
    """Create the missing parent folders; return them deepest first (the order to remove them in)."""
    missing = []
    folder = target.parent
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    if not folder.is_dir():
        raise ToolError(f"cannot create {ctx.display(target)}: {ctx.display(folder)} is a file, not a folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    return missing


def _result(ctx: ToolContext, target: Path, output: str, diff: str) -> ToolResult:
    name = ctx.display(target)
    return ToolResult(output, changed_paths=[name], data={"diff": diff, "path": name})


def _newline_note(tf: TextFile) -> str:
    if tf.mixed_newlines:
        return f"\nNote: the file mixed line endings; it now uses {tf.newline_label} throughout."
    return ""


def _missing(ctx: ToolContext, target: Path) -> str:
    msg = f"{ctx.display(target)} does not exist"
    if target.parent.is_dir():
        near = difflib.get_close_matches(target.name, [p.name for p in target.parent.iterdir()], n=3)
        if near:
            msg += f" (similar names there: {', '.join(near)})"
    return msg


def _image_kind(target: Path, raw: bytes) -> str | None:
    for magic, kind in _MAGIC:
        if raw.startswith(magic):
            return kind
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "WebP image"
    return _IMAGE_EXTENSIONS.get(target.suffix.lower())


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _count_lines(text: str) -> int:
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


def _line_offset(text: str, line: int) -> int:
    """The character offset where line `line + 1` starts (`line` lines skipped)."""
    at = 0
    for _ in range(line):
        nl = text.find("\n", at)
        if nl == -1:
            return len(text)
        at = nl + 1
    return at


def _numbered(lines: list[str], first: int) -> str:
    return "\n".join(f"{no:>6}\t{line}" for no, line in enumerate(lines, first))


class _Change:
    """One contiguous edit: old[start:old_end] became new[start:new_end], the rest is equal.
    Works on the changed lines only, so big files cost no more than small ones."""

    def __init__(self, old: str, new: str, start: int, old_end: int, new_end: int):
        self.old, self.new = old, new
        ls = old.rfind("\n", 0, start) + 1
        oe, ne = old_end, new_end
        # Widen to whole lines in both texts; past old_end the texts are equal, so step them together.
        while not (_at_line_start(old, oe) and _at_line_start(new, ne)):
            nl = old.find("\n", oe)
            step = (len(old) - oe) if nl == -1 else nl + 1 - oe
            oe, ne = oe + step, ne + step
        cs = ls
        for _ in range(SNIPPET_CONTEXT):
            if cs == 0:
                break
            cs = old.rfind("\n", 0, cs - 1) + 1
        ce = oe
        for _ in range(SNIPPET_CONTEXT):
            nl = old.find("\n", ce)
            ce = len(old) if nl == -1 else nl + 1
        self.first = old.count("\n", 0, cs)  # 0-based line index of the context's start
        self.before = old[cs:ls].splitlines()
        self.old_mid = old[ls:oe].splitlines()
        self.new_mid = new[ls:ne].splitlines()
        self.after = old[oe:ce].splitlines()

    def snippet(self) -> str:
        lines = [*self.before, *self.new_mid, *self.after]
        if len(lines) <= SNIPPET_MAX_LINES:
            return _numbered(lines, self.first + 1)
        head = SNIPPET_MAX_LINES // 2
        tail_first = self.first + len(lines) - head
        return (
            f"{_numbered(lines[:head], self.first + 1)}\n   ...\t[{len(lines) - 2 * head} lines not shown]\n"
            f"{_numbered(lines[-head:], tail_first + 1)}"
        )

    def diff(self, name: str) -> str:
        a = [*self.before, *self.old_mid, *self.after]
        b = [*self.before, *self.new_mid, *self.after]
        rows = difflib.unified_diff(a, b, f"a/{name}", f"b/{name}", lineterm="", n=SNIPPET_CONTEXT)
        return "\n".join(_shift_hunk(row, self.first) for row in rows)


def _at_line_start(text: str, pos: int) -> bool:
    return pos == 0 or pos >= len(text) or text[pos - 1] == "\n"


def _shift_hunk(row: str, offset: int) -> str:
    m = _HUNK.match(row)
    if not m or not offset:
        return row
    return f"@@ -{int(m[1]) + offset}{m[2]} +{int(m[3]) + offset}{m[4]} @@"


def _full_diff(old: str, new: str, name: str, new_file: bool = False, deleted: bool = False) -> str:
    rows = difflib.unified_diff(
        old.splitlines(),
        new.splitlines(),
        "/dev/null" if new_file else f"a/{name}",
        "/dev/null" if deleted else f"b/{name}",
        lineterm="",
    )
    return "\n".join(rows)


# ---------------------------------------------------------------- when old_str does not match


def _many_matches_message(name: str, text: str, old_str: str, count: int) -> str:
    line_numbers = []
    at, line = 0, 1
    for _ in range(min(count, 20)):
        found = text.find(old_str, at)
        line += text.count("\n", at, found)
        line_numbers.append(str(line))
        at = found + 1
    more = f" and {count - 20} more" if count > 20 else ""
    return (
        f"old_str occurs {count} times in {name} (starting at lines {', '.join(line_numbers)}{more}); "
        "include more surrounding lines in old_str so it matches exactly once"
    )


def _no_match_message(name: str, text: str, old_str: str, tf: TextFile) -> str:
    lines = _lines(text)
    needle = _lines(old_str) or [old_str]
    parts = [f"old_str was not found in {name}."]
    candidates = _closest(lines, needle)
    for ratio, start in candidates:
        window = lines[start : start + len(needle)]
        end = start + len(window)
        where = f"line {start + 1}" if end == start + 1 else f"lines {start + 1}-{end}"
        parts.append(f"Closest text ({ratio:.0%} similar), {where}:\n{_numbered(window, start + 1)}")
    if not candidates:
        parts.append("Nothing similar was found; view the file to see its current content.")
    best = lines[candidates[0][1] : candidates[0][1] + len(needle)] if candidates else []
    parts.extend(f"Hint: {h}" for h in _hints(needle, best, text, tf))
    parts.append("Copy old_str exactly from the file (without view's line numbers) and try again.")
    return "\n".join(parts)


def _hints(needle: list[str], best: list[str], text: str, tf: TextFile) -> list[str]:
    hints = []
    if all(_LINE_NUMBER_PREFIX.match(line) for line in needle if line.strip()):
        hints.append("old_str starts its lines with line numbers from view's output; leave them out")
    if best and len(best) == len(needle):
        if [s.strip() for s in best] == [s.strip() for s in needle]:
            msg = "the closest text differs only in indentation or surrounding whitespace"
            file_tabs = any(s.startswith("\t") for s in best)
            needle_tabs = any(s.startswith("\t") for s in needle)
            if file_tabs != needle_tabs:
                msg += f" (the file indents with {'tabs' if file_tabs else 'spaces'})"
            hints.append(msg + "; copy the whitespace exactly")
        elif [s.rstrip() for s in best] == [s.rstrip() for s in needle]:
            hints.append("the closest text differs only in trailing whitespace")
    if tf.newline != "\n":
        hints.append(
            f"the file has {tf.newline_label} line endings; they are converted for you: write \\n in old_str"
        )
    if "\r" in text:
        hints.append("the file has carriage returns (\\r) inside lines; old_str must include them")
    return hints


def _closest(lines: list[str], needle: list[str], limit: int = 3) -> list[tuple[float, int]]:
    """Up to `limit` (similarity, 0-based start) of the line windows, as long as `needle`, most like it.
    Cheap candidate starts first (lines equal once stripped, else fuzzy line matches), then difflib."""
    if not lines:
        return []
    k = min(len(needle), len(lines))
    votes: dict[int, float] = {}
    wanted: dict[str, list[int]] = {}
    for j, line in enumerate(needle):
        if line.strip():
            wanted.setdefault(line.strip(), []).append(j)
    for i, line in enumerate(lines):
        for j in wanted.get(line.strip(), ()):
            votes[i - j] = votes.get(i - j, 0.0) + len(line.strip())
    if len(votes) < limit:
        # No line survives intact (a typo on every line): match the longest lines fuzzily.
        matcher = difflib.SequenceMatcher(autojunk=False)
        for target in sorted(wanted, key=len, reverse=True)[:3]:
            matcher.set_seq2(target)
            for i, line in enumerate(lines[:50_000]):
                matcher.set_seq1(line.strip())
                if matcher.real_quick_ratio() >= 0.6 and matcher.quick_ratio() >= 0.6:
                    ratio = matcher.ratio()
                    if ratio >= 0.6:
                        for j in wanted[target]:
                            votes[i - j] = votes.get(i - j, 0.0) + ratio * len(target)
    starts = {min(max(s, 0), len(lines) - k) for s in sorted(votes, key=votes.__getitem__, reverse=True)[:15]}
    joined = "\n".join(needle)
    scored = sorted(
        (
            (difflib.SequenceMatcher(None, "\n".join(lines[s : s + k]), joined, autojunk=False).ratio(), s)
            for s in starts
        ),
        key=lambda rs: (-rs[0], rs[1]),
    )
    chosen: list[tuple[float, int]] = []
    for ratio, start in scored:
        if ratio < 0.4 or len(chosen) == limit:
            break
        if all(abs(start - s) >= k for _, s in chosen):
            chosen.append((ratio, start))
    return chosen
