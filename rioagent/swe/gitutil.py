"""Running git for the eval harness: a clean environment (no inherited GIT_DIR & co.), a fixed identity,
and errors that say which command failed and what git printed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from rioagent.checkpoints import GIT_LOCATION_VARS

_LOCATION_VARS = (*GIT_LOCATION_VARS, "GIT_CONFIG_PARAMETERS")
_IDENTITY = {
    "GIT_AUTHOR_NAME": "rioagent-eval",
    "GIT_AUTHOR_EMAIL": "eval@rioagent.invalid",
    "GIT_COMMITTER_NAME": "rioagent-eval",
    "GIT_COMMITTER_EMAIL": "eval@rioagent.invalid",
    "GIT_TERMINAL_PROMPT": "0",  # a clone that needs credentials fails instead of waiting for a person
}
# Settings that would change what git prints or how a patch looks, whatever the user's config says.
_CONFIG = ("-c", "core.quotePath=false", "-c", "diff.noprefix=false", "-c", "color.ui=false")


class GitError(RuntimeError):
    """A git command failed; the message holds the command and git's own words."""


def git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _LOCATION_VARS}
    env.update(_IDENTITY)
    env.update(extra or {})
    return env


def git(
    *args: str,
    cwd: Path | str | None = None,
    env: dict[str, str] | None = None,
    input: bytes | None = None,
    check: bool = True,
    timeout: float | None = 600,
) -> subprocess.CompletedProcess[bytes]:
    """Run `git ARGS` and return the finished process (stdout/stderr as bytes)."""
    cmd = ["git", *_CONFIG, *args]
    proc = subprocess.run(
        cmd, cwd=cwd, env=git_env(env), input=input, capture_output=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).decode(errors="replace").strip()
        raise GitError(f"`git {' '.join(args)}` failed in {cwd or os.getcwd()}: {detail[-2000:]}")
    return proc


def git_text(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None) -> str:
    return git(*args, cwd=cwd, env=env).stdout.decode(errors="replace").strip()
