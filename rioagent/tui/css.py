"""Each widget keeps its styles in a .tcss file beside it; this reads one for DEFAULT_CSS."""

from __future__ import annotations

from pathlib import Path


def load_css(module_file: str) -> str:
    """The .tcss file next to a module (`load_css(__file__)`)."""
    return Path(module_file).with_suffix(".tcss").read_text(encoding="utf-8")
