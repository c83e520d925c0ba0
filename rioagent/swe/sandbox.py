"""A bubblewrap sandbox with no network: the whole file system read-only, a few folders writable.

Used twice: the agent's shell runs inside one (through the bash tool's command prefix) and the grader
runs the tests inside one. The model's HTTP traffic never goes through it: only what the agent runs.

- `--unshare-net`: a network namespace with only a loopback interface; nothing outside is reachable.
- `--ro-bind / /`, then `--bind` for the workspace and the instance's scratch folders (the caller points
  HOME and TMPDIR there, so pip caches and pytest's tmp_path work); environment folders are bound
  read-only again in case they sit under a writable one. The caller's environment passes through.
- Folders to hide get an empty tmpfs over them (the source repository, whose work tree, refs and HEAD are
  at later commits; the shared environment's checkout; other instances' scratch folders); what must stay
  readable inside them (the source's objects, which the workspace borrows) is bound back read-only after.
- Files to hide (the instances file, which holds the gold patches) get an empty file bound over them
  (not /dev/null: a bind mount is nodev, and a device node there cannot even be opened).
- Order matters: tmpfs first, then read-only folders, then writable ones, then hidden files.
- No new PID namespace: the bash tool finds and signals its jobs through /proc, which must stay the host's.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


class SandboxError(RuntimeError):
    """bubblewrap is missing or cannot make a sandbox here; the message says what to do."""


@functools.cache
def check_bwrap() -> str:
    """The bwrap binary, once it has been seen to start a sandbox without network; else SandboxError."""
    binary = shutil.which("bwrap")
    if binary is None:
        raise SandboxError(
            "bubblewrap (bwrap) is not installed; install it (apt-get install bubblewrap) or pass "
            "--no-sandbox to run without isolation (tests may then reach the network)"
        )
    probe = [binary, "--ro-bind", "/", "/", "--dev-bind", "/dev", "/dev", "--unshare-net", "true"]
    proc = subprocess.run(probe, capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        raise SandboxError(
            f"bwrap cannot create a sandbox here ({proc.stderr.strip() or proc.returncode}); unprivileged "
            "user namespaces may be off (sysctl kernel.unprivileged_userns_clone=1), or pass --no-sandbox"
        )
    return binary


def _empty_file() -> Path:
    """An empty read-only file (one per user, reused), bound over the files a sandbox hides."""
    path = Path(tempfile.gettempdir()) / f"rioagent-empty-{os.getuid()}"
    if not path.is_file() or path.stat().st_size or path.stat().st_uid != os.getuid():
        fd, tmp = tempfile.mkstemp(prefix=".rioagent-empty-")
        os.close(fd)
        os.chmod(tmp, 0o444)
        os.replace(tmp, path)
    return path


@dataclass
class Sandbox:
    writable: list[Path]
    readonly: list[Path] = field(default_factory=list)
    hidden: list[Path] = field(default_factory=list)  # files replaced by an empty one
    hidden_dirs: list[Path] = field(default_factory=list)  # folders replaced by an empty one
    chdir: Path | None = None
    network: bool = False  # True only for --no-sandbox-like debugging; the default cuts it

    def prefix(self) -> list[str]:
        """The argv that runs a command inside; append the command to it."""
        args = [check_bwrap(), "--die-with-parent", "--ro-bind", "/", "/", "--dev-bind", "/dev", "/dev"]
        if not self.network:
            args.append("--unshare-net")
        for path in self.hidden_dirs:
            if Path(path).is_dir():
                args += ["--tmpfs", str(path)]
        for path in self.readonly:
            args += ["--ro-bind", str(path), str(path)]
        for path in self.writable:
            args += ["--bind", str(path), str(path)]
        for path in self.hidden:
            if Path(path).is_file():
                args += ["--ro-bind", str(_empty_file()), str(path)]
        if self.chdir is not None:
            args += ["--chdir", str(self.chdir)]
        return args

    def wrap(self, argv: Sequence[str]) -> list[str]:
        return [*self.prefix(), *argv]


class NoSandbox(Sandbox):
    """--no-sandbox: the same interface, nothing wrapped."""

    def prefix(self) -> list[str]:
        return []
