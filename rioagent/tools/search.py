"""search (regex over files) and find_files (glob over names), both honouring .gitignore.

ripgrep does the heavy lifting when installed; a pure-Python path does the same otherwise. Their output is
identical by construction: the same file list (ignore.py), rg only says which lines match, and the text
shown, binary detection, sorting, context and caps are all done here, in one place, for both."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from pathlib import Path
from subprocess import DEVNULL, PIPE

from rioagent.tools.base import ToolContext, ToolError, ToolResult
from rioagent.tools.ignore import RG_TIMEOUT, RG_WALK_FLAGS, glob_filter, list_files, ripgrep
from rioagent.tools.search_regex import compile_pattern, rg_pattern

DEFAULT_MAX_RESULTS = 50
MAX_RESULTS_LIMIT = 500
COUNT_LIMIT = 2_000  # matches counted before we stop looking: "at least N more"
MAX_CONTEXT = 10
MAX_LINE_CHARS = 300
MAX_OUTPUT_CHARS = 20_000
MAX_FILE_BYTES = 8 * 1024 * 1024  # larger files are skipped (logs, dumps): say so
FIND_DEFAULT_MAX = 200
FIND_MAX_LIMIT = 2_000

_RG_LINE = re.compile(rb"^(.*?)\x00(\d+):", re.M)


def search(
    ctx: ToolContext,
    pattern: str,
    path: str = ".",
    glob: str | None = None,
    case_sensitive: bool | None = None,
    context: int = 0,
    max_results: int = DEFAULT_MAX_RESULTS,
) -> ToolResult:
    """Lines matching `pattern` as `path:line: text`, sorted by path then line."""
    rx = compile_pattern(pattern, case_sensitive)
    if not 0 <= context <= MAX_CONTEXT:
        raise ToolError(f"context must be between 0 and {MAX_CONTEXT} lines; got {context}")
    if not 1 <= max_results <= MAX_RESULTS_LIMIT:
        raise ToolError(f"max_results must be between 1 and {MAX_RESULTS_LIMIT}; got {max_results}")
    target, rels = _candidates(ctx, path, glob)
    root = target if target.is_dir() else target.parent
    if target.is_file() and _size(target) <= MAX_FILE_BYTES and _text_lines(str(target)) is None:
        raise ToolError(f"{ctx.display(target)} is a binary file; search reads text files only")
    base = str(root)
    too_big = [rel for rel in rels if _size(os.path.join(base, rel)) > MAX_FILE_BYTES]
    if too_big:
        big = set(too_big)
        rels = [rel for rel in rels if rel not in big]
    rg = ripgrep()
    texts: dict[str, list[str]] = {}
    hits = _rg_hits(rg, rx, target, rels, texts, max_results) if rg else _py_hits(rx, root, rels, texts)
    total = sum(len(lines) for _, lines in hits)
    notes = []
    if too_big:
        names = ", ".join(ctx.display(root / rel) for rel in too_big[:3]) + (" …" if len(too_big) > 3 else "")
        notes.append(f"[{len(too_big)} file(s) over {MAX_FILE_BYTES // 2**20} MB not searched: {names}]")
    if not hits:
        where = ctx.display(target)
        head = (
            f"No matches for {pattern!r} in {where} ({len(rels)} files searched; .gitignore'd files skipped)"
        )
        return ToolResult("\n".join([head, *notes]))
    rows, shown = _format(ctx, rx, root, hits, texts, context, max_results)
    if shown < total:
        more = f"at least {total - shown}" if total >= COUNT_LIMIT else str(total - shown)
        notes.insert(0, f"[{more} more matches not shown; narrow the pattern or path, or use glob]")
    elif total >= COUNT_LIMIT:  # all that was counted is shown, but the search stopped early
        notes.insert(0, f"[more matches may exist: stopped after {total}; narrow the pattern or path]")
    else:
        notes.insert(0, f"[{total} {'match' if total == 1 else 'matches'} in {len(hits)} file(s)]")
    return ToolResult("\n".join([*rows, *notes]))


def find_files(ctx: ToolContext, pattern: str, path: str = ".", max_results: int = FIND_DEFAULT_MAX) -> str:
    """Files whose path matches the glob `pattern`, sorted, relative to the workspace."""
    if not 1 <= max_results <= FIND_MAX_LIMIT:
        raise ToolError(f"max_results must be between 1 and {FIND_MAX_LIMIT}; got {max_results}")
    target, rels = _candidates(ctx, path, pattern, folder_only=True)
    if not rels:
        return f"No files match {pattern!r} under {ctx.display(target)} (.gitignore'd files are skipped)"
    rows = [ctx.display(target / rel) for rel in rels[:max_results]]
    if len(rels) > max_results:
        rows.append(f"[{len(rels) - max_results} more files not shown; narrow the pattern or path]")
    return "\n".join(rows)


# ---------------------------------------------------------------- pieces


def _candidates(
    ctx: ToolContext, path: str, glob: str | None, folder_only: bool = False
) -> tuple[Path, list[str]]:
    """The target, and the files to look at: `/`-separated paths relative to it (to its folder for a file).
    Strings rather than Paths: pathlib costs seconds on a 50,000-file tree."""
    target = ctx.resolve(path or ".")
    if not target.exists():
        raise ToolError(f"{ctx.display(target)} does not exist; give a file or folder inside the workspace")
    if target.is_file() and folder_only:
        raise ToolError(f"{ctx.display(target)} is a file; give the folder to look in")
    try:
        matches = glob_filter(glob) if glob else None
    except ValueError as exc:
        raise ToolError(str(exc)) from exc
    if target.is_file():
        return target, [target.name] if matches is None or matches(target.name) else []
    try:
        rels = list_files(target)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolError(f"cannot list the files under {ctx.display(target)}: {exc}") from exc
    return target, rels if matches is None else [rel for rel in rels if matches(rel)]


def _size(file: Path | str) -> int:
    try:
        return os.stat(file).st_size
    except OSError:
        return 0


def _text_lines(file: str) -> list[str] | None:
    """The file's lines as search sees them (split on \\n only, like rg; \\r\\n taken as one ending), or None
    for binary or unreadable files."""
    try:
        with open(file, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if raw.startswith(bom):
            text = raw[len(bom) :].decode(codec, errors="replace")
            break
    else:
        if b"\x00" in raw:  # binary, as ripgrep judges it (a NUL byte anywhere)
            return None
        text = raw.decode("utf-8", errors="replace")
    if "\x00" in text:
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    elif lines[-1].endswith("\r"):
        lines[-1] = lines[-1][:-1]
    return lines


def _is_text(file: str) -> bool:
    """What _text_lines accepts, without decoding: for matches past max_results, which are only counted."""
    try:
        with open(file, "rb") as f:
            raw = f.read()
    except OSError:
        return False
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _text_lines(file) is not None
    return b"\x00" not in raw


def _py_hits(
    rx: re.Pattern[str], root: Path, rels: list[str], texts: dict[str, list[str]]
) -> list[tuple[str, list[int]]]:
    hits: list[tuple[str, list[int]]] = []
    total = 0
    base = str(root)
    for rel in rels:
        lines = _text_lines(os.path.join(base, rel))
        if not lines:
            continue
        found = [no for no, line in enumerate(lines, 1) if rx.search(line)]
        if found:
            hits.append((rel, found))
            texts[rel] = lines
            total += len(found)
            if total >= COUNT_LIMIT:
                break
    return hits


def _rg_hits(
    rg: str, rx: re.Pattern[str], target: Path, rels: list[str], texts: dict[str, list[str]], max_results: int
) -> list[tuple[str, list[int]]]:
    """rg walks and finds the matching line numbers, in path order (--sort path: the order of sort_key), so
    it can stop where _py_hits stops; the files kept and their text are judged as in _py_hits."""
    root = target if target.is_dir() else target.parent
    allowed = set(rels)
    case = "--ignore-case" if rx.flags & re.IGNORECASE else "--case-sensitive"
    argv = [rg, "--line-number", "--no-heading", "--with-filename", "--null", "--color", "never", "--crlf"]
    argv += [
        "--max-columns",
        "1",
        case,
        "--sort",
        "path",
        "--max-filesize",
        str(MAX_FILE_BYTES),
        *RG_WALK_FLAGS,
    ]
    argv += ["--regexp", rg_pattern(rx.pattern), "--", "." if target.is_dir() else target.name]
    hits: list[tuple[str, list[int]]] = []
    total = 0

    def keep(rel: str | None, numbers: list[int]) -> int:
        if rel is None or rel not in allowed:
            return 0
        file = os.path.join(root, rel)
        if total < max_results:  # its lines may be shown: read them
            lines = _text_lines(file)
            if not lines:
                return 0
            texts[rel] = lines
            numbers = [n for n in numbers if n <= len(lines)]
        elif not _is_text(file):
            return 0
        hits.append((rel, sorted(set(numbers))))
        return len(hits[-1][1])

    proc = subprocess.Popen(argv, cwd=root, stdin=DEVNULL, stdout=PIPE, stderr=PIPE)
    watchdog = threading.Timer(RG_TIMEOUT, proc.kill)
    watchdog.start()
    current: str | None = None
    numbers: list[int] = []
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            m = _RG_LINE.match(raw)
            if not m:
                continue
            rel = m[1].decode("utf-8", "surrogateescape").removeprefix("./")
            if rel != current:
                total += keep(current, numbers)
                if total >= COUNT_LIMIT:
                    break
                current, numbers = rel, []
            numbers.append(int(m[2]))
        else:
            total += keep(current, numbers)
    finally:
        if proc.poll() is None and total >= COUNT_LIMIT:
            proc.kill()
        err = proc.communicate()[1].decode(errors="replace").strip()
        timed_out = not watchdog.is_alive() and total < COUNT_LIMIT and proc.returncode != 0
        watchdog.cancel()
    if timed_out:
        raise ToolError(f"search took over {RG_TIMEOUT:.0f} s; narrow the path or add a glob")
    if proc.returncode == 2 and not hits and "regex" in err:
        raise ToolError(f"ripgrep rejected the pattern {rx.pattern!r}:\n{err}")
    return hits


def _format(
    ctx: ToolContext,
    rx: re.Pattern[str],
    root: Path,
    hits: list[tuple[str, list[int]]],
    texts: dict[str, list[str]],
    context: int,
    max_results: int,
) -> tuple[list[str], int]:
    """Rows for the first `max_results` matches (fewer if MAX_OUTPUT_CHARS is reached), grep-style:
    `path:line: text` for a match, `path-line- text` for context, `--` between separate groups."""
    rows: list[str] = []
    chars = shown = 0
    for rel, numbers in hits:
        take = set(numbers[: max_results - shown])
        if not take:
            break
        name, lines = ctx.display(root / rel), texts[rel]
        wanted = sorted(
            {n for no in take for n in range(max(1, no - context), min(len(lines), no + context) + 1)}
        )
        prev = -1  # a new file always starts a new group
        for n in wanted:
            row = f"{name}{':' if n in take else '-'}{n}{':' if n in take else '-'} {_clip(lines[n - 1], rx)}"
            if rows and chars + len(row) > MAX_OUTPUT_CHARS:
                return rows, shown
            if context and rows and n > prev + 1:
                rows.append("--")
            rows.append(row)
            chars += len(row) + 1
            shown += n in take
            prev = n
    return rows, shown


def _clip(line: str, rx: re.Pattern[str]) -> str:
    """A long line (minified code) cut to MAX_LINE_CHARS around its first match."""
    if len(line) <= MAX_LINE_CHARS:
        return line
    m = rx.search(line)
    start = max(0, (m.start() if m else 0) - MAX_LINE_CHARS // 3)
    if start + MAX_LINE_CHARS >= len(line):
        start = len(line) - MAX_LINE_CHARS
    piece = line[start : start + MAX_LINE_CHARS]
    lead = "…" if start else ""
    tail = "…" if start + MAX_LINE_CHARS < len(line) else ""
    return f"{lead}{piece}{tail} [line truncated: {len(line)} chars]"
