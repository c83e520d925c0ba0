"""Locate the data folders (tools/, prompts/) in a wheel or in an editable checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The folder `name` ("tools" or "prompts"): inside the wheel, else at the checkout's root."""
    for candidate in (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"rioagent data folder {name!r} not found; reinstall the package")
