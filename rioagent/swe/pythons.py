"""Finding a Python interpreter of a given X.Y version: pyenv, uv, or PATH, checked by running it."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path


class PythonNotFound(RuntimeError):
    pass


def _version_of(binary: str) -> str | None:
    try:
        proc = subprocess.run(
            [binary, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _patch_key(path: Path, version: str) -> tuple[int, ...]:
    match = re.search(re.escape(version) + r"\.(\d+)", str(path))
    return (int(match.group(1)),) if match else (-1,)


def _candidates(version: str) -> list[str]:
    found: list[Path] = []
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found += sorted(
        pyenv_root.glob(f"versions/{version}.*/bin/python{version}"),
        key=lambda p: _patch_key(p, version),
        reverse=True,
    )
    uv_root = Path(os.environ.get("UV_PYTHON_INSTALL_DIR") or Path.home() / ".local/share/uv/python")
    found += sorted(
        uv_root.glob(f"cpython-{version}.*/bin/python{version}"),
        key=lambda p: _patch_key(p, version),
        reverse=True,
    )
    out = [str(p) for p in found]
    on_path = shutil.which(f"python{version}")
    if on_path:
        out.append(on_path)  # may be a pyenv shim that refuses: checked by running it
    return out


@functools.cache
def find_python(version: str) -> str:
    """An interpreter for "X.Y" ("current": the one running rioagent). Raises PythonNotFound."""
    here = "{}.{}".format(*sys.version_info[:2])
    if version in ("current", here):
        return sys.executable
    for candidate in _candidates(version):
        if _version_of(candidate) == version:
            return candidate
    if shutil.which("uv"):
        proc = subprocess.run(["uv", "python", "find", version], capture_output=True, text=True, check=False)
        if proc.returncode == 0 and _version_of(proc.stdout.strip()) == version:
            return proc.stdout.strip()
    raise PythonNotFound(
        f"Python {version} was not found (looked in pyenv, uv and PATH); install it with "
        f"`pyenv install {version}` or `uv python install {version}`"
    )
