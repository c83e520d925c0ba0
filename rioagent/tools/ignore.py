"""The files search, find_files and outline look at: a walk that honours ignore rules the way git and
ripgrep do, in pure Python, plus the same listing from `rg --files` when ripgrep is installed.

Rules read: every .gitignore from the folder walked down (and in its parent folders up to the repository
root, or to / outside a repository), and .git/info/exclude at the repository root; a nested repository
starts afresh. Hidden files are included; .git is always skipped; symlinks are not followed (as ripgrep).
A pattern is matched against the entry itself, never against its parents: walking top-down prunes an
ignored folder before its contents are reached, and a folder named explicitly is searched like ripgrep
does. That is why the patterns are compiled here rather than with pathspec, whose matches include
descendants of a matching folder."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SKIP_NAMES = {".git"}
RG_TIMEOUT = 60.0


def ripgrep() -> str | None:
    """The rg executable; None when absent or switched off (RIOAGENT_NO_RG=1: tests, comparisons)."""
    if os.environ.get("RIOAGENT_NO_RG", "").strip() not in ("", "0"):
        return None
    return shutil.which("rg")


# ---------------------------------------------------------------- gitignore-style globs


@dataclass(frozen=True)
class Glob:
    regex: re.Pattern[str]
    negated: bool
    dir_only: bool


def compile_glob(line: str) -> Glob | None:
    """One .gitignore line as a Glob (None for blanks and comments). Without a slash it matches a name at any
    depth; with one it is anchored to the folder of the file it came from."""
    line = line.rstrip("\n").rstrip("\r")
    if not line.strip() or line.startswith("#"):
        return None
    while line.endswith(" ") and not line.endswith("\\ "):
        line = line[:-1]
    negated = line.startswith("!")
    if negated or line.startswith(("\\!", "\\#")):
        line = line[1:]
    dir_only = line.endswith("/")
    line = line.rstrip("/")
    if not line:
        return None
    anchored = "/" in line
    line = line.lstrip("/")
    if line.startswith("**/"):
        line, anchored = line[3:], False
    body = _translate(line)
    prefix = "" if anchored else "(?:.*/)?"
    return Glob(re.compile(f"^{prefix}{body}$", re.DOTALL), negated, dir_only)


def _translate(glob: str) -> str:
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        if glob.startswith("/**/", i):
            out.append("(?:/|/.*/)")
            i += 4
        elif glob.startswith("/**", i) and i + 3 == n:
            out.append("/.*")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "{" and "}" in glob[i:]:
            # ripgrep's globs (and its .gitignore reading) take {a,b} alternatives; so do ours.
            end = glob.index("}", i)
            out.append("(?:" + "|".join(_translate(alt) for alt in glob[i + 1 : end].split(",")) + ")")
            i = end + 1
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = glob.find("]", i + 2 if glob[i + 1 : i + 2] in ("!", "^", "]") else i + 1)
            if end == -1:
                out.append(re.escape(c))
                i += 1
                continue
            inner = glob[i + 1 : end]
            if inner[:1] in ("!", "^"):
                inner = "^" + inner[1:]
            out.append("[" + inner.replace("\\", "\\\\") + "]")
            i = end + 1
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(glob[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


class Rules:
    """The globs of one ignore file, relative to the folder `base`."""

    def __init__(self, base: Path, lines: list[str]):
        self.base = base
        self._prefix = len(os.path.join(str(base), ""))  # paths are strings here: pathlib is slow per file
        self.globs = [g for g in map(compile_glob, lines) if g is not None]

    @classmethod
    def read(cls, base: Path, file: Path) -> Rules | None:
        try:
            lines = file.read_text(encoding="utf-8", errors="replace").split("\n")
        except OSError:
            return None
        rules = cls(base, lines)
        return rules if rules.globs else None

    def verdict(self, path: str, is_dir: bool) -> bool | None:
        """True: ignored, False: re-included by a `!` line, None: no line speaks of it. Last match wins.
        `path` is absolute, below `base`."""
        rel = path[self._prefix :]
        for glob in reversed(self.globs):
            if (is_dir or not glob.dir_only) and glob.regex.match(rel):
                return not glob.negated
        return None


def _is_repo(folder: Path) -> bool:
    return (folder / ".git").exists()


def _own_rules(folder: Path) -> tuple[Rules | None, Rules | None]:
    """(.gitignore rules, .git/info/exclude rules) that `folder` itself contributes."""
    exclude = Rules.read(folder, folder / ".git" / "info" / "exclude") if _is_repo(folder) else None
    return Rules.read(folder, folder / ".gitignore"), exclude


class Ignorer:
    """Decides the entries of one folder: its rules and its parents', each list deepest first."""

    def __init__(self, gitignores: list[Rules], excludes: list[Rules]):
        self.gitignores, self.excludes = gitignores, excludes

    @classmethod
    def above(cls, folder: Path) -> Ignorer:
        """The rules in force in `folder`: its own and its parents', up to the repository root."""
        gitignores: list[Rules] = []
        excludes: list[Rules] = []
        for current in [folder, *folder.parents]:
            gi, ex = _own_rules(current)
            gitignores += [gi] if gi else []
            excludes += [ex] if ex else []
            if _is_repo(current):
                break
        return cls(gitignores, excludes)

    def enter(self, folder: Path) -> Ignorer:
        gi, ex = _own_rules(folder)
        if _is_repo(folder):  # a nested repository: the outer rules stop here, as in git
            return Ignorer([gi] if gi else [], [ex] if ex else [])
        if gi is None:
            return self
        return Ignorer([gi, *self.gitignores], self.excludes)

    def ignored(self, path: str, is_dir: bool) -> bool:
        for rules in (*self.gitignores, *self.excludes):
            verdict = rules.verdict(path, is_dir)
            if verdict is not None:
                return verdict
        return False


# ---------------------------------------------------------------- listing


def sort_key(rel: str) -> tuple[str, ...]:
    """Folder by folder, as a sorted walk visits them (ripgrep's --sort path): `a/b` comes before `a.txt`."""
    return tuple(rel.split("/"))


def walk_files(root: Path) -> list[str]:
    """Files under `root` that the ignore rules keep, as `/`-separated paths relative to `root`, sorted."""
    found: list[str] = []

    def walk(folder: Path, ignorer: Ignorer, prefix: str) -> None:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return
        for entry in entries:
            if entry.name in SKIP_NAMES or entry.is_symlink():
                continue
            is_dir = entry.is_dir(follow_symlinks=False)
            if ignorer.ignored(entry.path, is_dir):
                continue
            if is_dir:
                path = Path(entry.path)
                walk(path, ignorer.enter(path), f"{prefix}{entry.name}/")
            elif entry.is_file(follow_symlinks=False):
                found.append(prefix + entry.name)

    walk(root, Ignorer.above(root), "")
    return sorted(found, key=sort_key)


RG_WALK_FLAGS = [
    "--no-config", "--hidden", "--no-require-git", "--no-ignore-global", "--no-ignore-dot",
    "--no-messages", "--glob", "!.git",
]  # fmt: skip


def rg_files(rg: str, root: Path) -> list[str]:
    """walk_files, listed by ripgrep (much faster on big trees)."""
    proc = subprocess.run(
        [rg, "--files", *RG_WALK_FLAGS, "--null"],
        cwd=root,
        capture_output=True,
        timeout=RG_TIMEOUT,
        check=False,
    )
    if proc.returncode not in (0, 1):
        raise OSError(f"rg --files failed: {proc.stderr.decode(errors='replace').strip()}")
    names = [os.fsdecode(raw) for raw in proc.stdout.split(b"\0") if raw]
    return sorted((n[2:] if n.startswith("./") else n for n in names), key=sort_key)


def list_files(root: Path) -> list[str]:
    """The files under folder `root` the ignore rules keep (ripgrep when present), relative, sorted."""
    rg = ripgrep()
    return rg_files(rg, root) if rg else walk_files(root)


def glob_filter(pattern: str) -> Callable[[str], bool]:
    """A test for relative paths: does `pattern` (gitignore/ripgrep glob syntax) match the file or a folder
    above it? `*.py` matches at any depth, `src/**/*.ts` from the folder searched, `tests` all inside it."""
    glob = compile_glob(pattern.strip())
    if glob is None or glob.negated:
        raise ValueError(f"{pattern!r} is not a usable glob; give one like '*.py', 'src/**/*.ts' or '*test*'")

    def match(rel: str) -> bool:
        if not glob.dir_only and glob.regex.match(rel):
            return True
        parts = rel.split("/")
        return any(glob.regex.match("/".join(parts[:i])) for i in range(1, len(parts)))

    return match
