"""The model's read-only view of the repository: git status, diff, log and show.

Anything that changes the repository (commit, checkout, push...) belongs to the bash tool, where approval
rules see it as a command; this tool never writes, not even git's opportunistic index refresh.
"""

from __future__ import annotations

import hashlib
import os
import subprocess

from rioagent.tools.base import ToolContext, ToolError, ToolResult

SUBCOMMANDS = ("status", "diff", "log", "show")
MAX_CHARS = 20_000
MAX_LOG = 200
MAX_UNTRACKED_LISTED = 50
_FLAGS = (
    "--no-pager",
    "--no-optional-locks",  # `status` would otherwise rewrite the index to refresh its stat cache
    "-c", "color.ui=never",
    "-c", "core.quotePath=false",
)  # fmt: skip
_DIFF_FLAGS = ("--no-color", "--no-ext-diff", "--no-textconv")


def git(
    ctx: ToolContext,
    command: str,
    path: str | None = None,
    limit: int = 20,
    staged: bool = False,
    revision: str | None = None,
) -> ToolResult:
    """Run one read-only git subcommand in the workspace and return its output, capped."""
    words = (command or "").split()
    if not words:
        raise ToolError(f"command is empty: give one of {', '.join(SUBCOMMANDS)}")
    sub, extra = words[0].lower(), words[1:]
    if sub not in SUBCOMMANDS:
        raise ToolError(
            f"`git {sub}` is not available here: this tool only reads ({', '.join(SUBCOMMANDS)}). "
            f"Run `git {' '.join(words)}` with the bash tool instead."
        )
    if sub == "show" and len(extra) == 1 and revision is None:
        revision, extra = extra[0], []
    if extra:
        raise ToolError(
            f"pass only the subcommand in command (e.g. {sub!r}) and use the parameters path, limit, staged "
            f"and revision; for other git options ({' '.join(extra)}) use the bash tool"
        )
    if _run(ctx, ["rev-parse", "--show-toplevel"], check=False) is None:
        raise ToolError(
            f"{ctx.workspace} is not inside a git repository, so there is no status, diff or history "
            "to show; use the file tools to inspect files (or start one with `git init` in the bash tool)"
        )
    pathspec = ["--", str(ctx.resolve(path))] if path else []
    if sub == "status":
        output = _status(ctx, pathspec)
    elif sub == "diff":
        output = _diff(ctx, pathspec, bool(staged))
    elif sub == "log":
        output = _log(ctx, pathspec, limit)
    else:
        output = _show(ctx, pathspec, revision or "HEAD")
    return ToolResult(_cap(ctx, sub, output))


def _status(ctx: ToolContext, pathspec: list[str]) -> str:
    out = _run(ctx, ["status", "--short", "--branch", *pathspec])
    if len(out.strip().splitlines()) <= 1:
        where = " (for that path)" if pathspec else ""
        out = out.rstrip("\n") + f"\nnothing to commit, working tree clean{where}"
    return out


def _has_head(ctx: ToolContext) -> bool:
    return _run(ctx, ["rev-parse", "--verify", "-q", "HEAD"], check=False) is not None


def _diff(ctx: ToolContext, pathspec: list[str], staged: bool) -> str:
    if staged:
        out = _run(ctx, ["diff", *_DIFF_FLAGS, "--patch-with-stat", "--cached", *pathspec])
        return out or "nothing staged: the index matches HEAD"
    # Before the first commit there is no HEAD: compare with the empty tree instead.
    base = "HEAD" if _has_head(ctx) else _run(ctx, ["hash-object", "-t", "tree", "/dev/null"]).strip()
    out = _run(ctx, ["diff", *_DIFF_FLAGS, "--patch-with-stat", base, *pathspec]) or (
        "no changes to tracked files since HEAD\n" if base == "HEAD" else "no tracked files yet\n"
    )
    untracked = _run(ctx, ["ls-files", "--others", "--exclude-standard", *pathspec]).splitlines()
    if untracked:
        listed = untracked[:MAX_UNTRACKED_LISTED]
        more = len(untracked) - len(listed)
        out += f"\nUntracked files (not in the diff above; view them with file tools): {', '.join(listed)}"
        out += f" and {more} more" if more else ""
    return out


def _log(ctx: ToolContext, pathspec: list[str], limit: int) -> str:
    if not _has_head(ctx):
        return "no commits yet on this branch"
    try:
        count = max(1, min(int(limit), MAX_LOG))
    except (TypeError, ValueError):
        raise ToolError(f"limit must be a whole number of commits (1-{MAX_LOG}), got {limit!r}") from None
    fmt = "--format=%h %ad %an: %s"
    out = _run(ctx, ["log", "--no-color", "--date=short", fmt, "-n", str(count), *pathspec])
    return out or "no commits touch that path"


def _show(ctx: ToolContext, pathspec: list[str], revision: str) -> str:
    revision = revision.strip()
    if not revision or revision.startswith("-"):
        raise ToolError(f"revision must be a commit, branch, tag or rev:path, got {revision!r}")
    return _run(ctx, ["show", *_DIFF_FLAGS, "--stat", "--patch", "--end-of-options", revision, *pathspec])


def _run(ctx: ToolContext, args: list[str], check: bool = True) -> str | None:
    env = {**os.environ, **ctx.env, "GIT_PAGER": "cat", "PAGER": "cat", "NO_COLOR": "1"}
    env["GIT_TERMINAL_PROMPT"] = "0"
    try:
        result = subprocess.run(
            ["git", *_FLAGS, *args],
            cwd=ctx.workspace,
            env=env,
            capture_output=True,
            timeout=ctx.command_timeout,
        )
    except subprocess.TimeoutExpired:
        raise ToolError(
            f"git {args[0]} took longer than {ctx.command_timeout:.0f}s; narrow it with path or limit"
        ) from None
    if result.returncode != 0:
        if not check:
            return None
        stderr = result.stderr.decode("utf-8", "replace").strip()
        raise ToolError(f"git {args[0]} failed: {stderr}")
    return result.stdout.decode("utf-8", "replace")


def _cap(ctx: ToolContext, sub: str, output: str) -> str:
    """Keep the model's context small: cut long output at a line and save the whole of it as an artifact."""
    if len(output) <= MAX_CHARS:
        return output
    cut = output.rfind("\n", 0, MAX_CHARS) + 1 or MAX_CHARS
    shown, total = output[:cut].count("\n"), output.count("\n") + 1
    ctx.artifacts_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(output.encode("utf-8", "replace")).hexdigest()[:12]
    saved = ctx.artifacts_dir / f"git-{sub}-{digest}.txt"
    saved.write_text(output, encoding="utf-8", errors="replace")
    return (
        f"{output[:cut]}\n[output truncated: showed {shown} of {total} lines; the full output is in {saved}. "
        "Narrow it with path (or a smaller limit for log).]"
    )
