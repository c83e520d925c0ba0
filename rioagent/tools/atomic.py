"""Read text files the way they are stored (encoding, BOM, line endings) and write them back atomically."""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

SNIFF_BYTES = 8192
NEW_FILE_MODE = 0o644

# Checked longest first: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS: list[tuple[bytes, str]] = [
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
]
# Control bytes that never appear in real text; too many of them in an 8-bit file means it is binary.
_TEXT_CONTROLS = {9, 10, 12, 13, 8, 27}
_C1 = bytes(range(0x80, 0xA0))


class NotTextError(ValueError):
    """The bytes are not text in any encoding we accept."""


@dataclass
class TextFile:
    """A file's text with `\\n` line endings, plus what is needed to write it back byte-compatible."""

    text: str
    encoding: str = "utf-8"  # codec used to encode, without the BOM
    bom: bytes = b""
    newline: str = "\n"  # the ending written back for every "\n" in `text`
    mixed_newlines: bool = False  # the file had several kinds; all are now `newline`

    @property
    def encoding_label(self) -> str:
        return f"{self.encoding} with BOM" if self.bom else self.encoding

    @property
    def newline_label(self) -> str:
        return {"\n": "LF", "\r\n": "CRLF", "\r": "CR"}[self.newline]

    def encode(self, text: str | None = None) -> bytes:
        """`text` (default: self.text) in the file's own encoding and line endings.
        Raises UnicodeEncodeError when a character has no place in that encoding."""
        text = self.text if text is None else text
        if self.newline != "\n":
            text = text.replace("\n", self.newline)
        return self.bom + text.encode(self.encoding)


def looks_binary(raw: bytes) -> bool:
    """NUL bytes near the start (and no UTF-16/32 BOM that would explain them)."""
    head = raw[:SNIFF_BYTES]
    if any(head.startswith(bom) for bom, enc in _BOMS if enc.startswith(("utf-16", "utf-32"))):
        return False
    return b"\x00" in head


def decode(raw: bytes) -> TextFile:
    """Decode `raw` by BOM, else UTF-8, else cp1252/latin-1; normalise line endings to "\\n".
    Raises NotTextError for binary data."""
    if looks_binary(raw):
        raise NotTextError("contains NUL bytes")
    encoding, bom = _sniff_encoding(raw)
    try:
        text = raw[len(bom) :].decode(encoding)
    except UnicodeDecodeError as exc:
        raise NotTextError(f"not valid {encoding}") from exc
    newline, mixed = _dominant_newline(text)
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if newline == "\r":
            text = text.replace("\r", "\n")
    return TextFile(text, encoding, bom, newline, mixed)


def _sniff_encoding(raw: bytes) -> tuple[str, bytes]:
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            return encoding, bom
    try:
        raw.decode("utf-8")
        return "utf-8", b""
    except UnicodeDecodeError:
        pass
    head = raw[:SNIFF_BYTES]
    controls = sum(1 for b in head if b < 32 and b not in _TEXT_CONTROLS)
    if head and controls / len(head) > 0.05:
        raise NotTextError("not UTF-8 and full of control bytes")
    # cp1252 and latin-1 agree outside 0x80-0x9F; only call it cp1252 when those bytes are used.
    if any(b in _C1 for b in raw):
        try:
            raw.decode("cp1252")
            return "cp1252", b""
        except UnicodeDecodeError:
            pass
    return "latin-1", b""


def _dominant_newline(text: str) -> tuple[str, bool]:
    """The most used line ending, and whether LF and CRLF were mixed. A lone CR only counts as a line
    ending in old-Mac files where it dominates; elsewhere it is an ordinary character and is kept."""
    crlf = text.count("\r\n")
    lf = text.count("\n") - crlf
    cr = text.count("\r") - crlf
    if cr > lf + crlf:
        return "\r", bool(lf or crlf)
    if crlf > lf:
        return "\r\n", bool(lf)
    return "\n", bool(crlf and lf)


def atomic_write(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write `data` to `path` through a temp file in the same folder, then os.replace.
    Keeps the existing file's permissions (and owner where allowed); a new file gets `mode` or 0644.
    On any failure the original is untouched and the temp file is removed."""
    path = Path(path)
    try:
        st: os.stat_result | None = path.stat()
    except FileNotFoundError:
        st = None
    if mode is None:
        mode = (st.st_mode & 0o7777) if st else NEW_FILE_MODE
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            # No fsync: the rename makes the write atomic against a crash of any process, and ext4, xfs
            # and btrfs flush a file's data before a rename over an existing one. A forced sync cost
            # 6 ms of the 8 ms an edit took here (evals/bench_core.py), and the step's checkpoint keeps
            # a second copy of the file in git anyway.
        os.chmod(tmp, mode)
        if st is not None and hasattr(os, "chown"):
            # Only root (or the owner, for the group) may do this; not being able to is not an error.
            with contextlib.suppress(OSError):
                os.chown(tmp, st.st_uid, st.st_gid)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
