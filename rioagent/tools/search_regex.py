"""The regular expressions search accepts: the syntax ripgrep (Rust regex) and Python's re share.

Both engines must find the same lines, so what only one of them has (look-around, backreferences, POSIX
classes, nested character classes...) is refused with a message saying what to write instead, whichever
engine runs. Escaped punctuation that Python takes as itself (\\' \\_ \\") is unescaped for ripgrep 13, which
would refuse it."""

from __future__ import annotations

import re
import warnings
from re import _parser  # type: ignore[attr-defined]  # re's own parser (3.11+): its warnings, uncached

from rioagent.tools.base import ToolError

# Constructs one engine has and the other lacks; refused in both so the two paths agree.
_UNSHARED = [
    (re.compile(r"\(\?<?[=!]"), "look-around ((?=…), (?!…), (?<=…), (?<!…))"),
    (re.compile(r"\\[1-9]|\(\?P="), "backreferences (\\1, (?P=name))"),
    (re.compile(r"\(\?>|\(\?\(|[*+?}]\+"), "atomic groups, conditionals and possessive quantifiers"),
    (re.compile(r"\\Z"), "\\Z (use $)"),
    (re.compile(r"\\[<>]"), "\\< and \\> (use \\b)"),
    (re.compile(r"\[\[:\^?[a-z]+:\]"), "POSIX classes like [[:alpha:]] (use [a-zA-Z], \\w, \\d or \\s)"),
    (re.compile(r"\(\?[a-zA-Z]*[aL]"), "the (?a) and (?L) flags"),
    (re.compile(r"\\0|\\N|\(\?#"), "octal escapes, \\N{…} names and (?#…) comments"),
    (re.compile(r"\{,\d"), "{,n} (write {0,n})"),
]
# Characters Rust regex (ripgrep 13) lets you escape; Python also takes `\'`, `\_`, `\"`..., which mean the
# character itself in both, so they are unescaped for ripgrep.
_RUST_META = set("\\.+*?()|[]{}^$#&-~")
_ESCAPE = re.compile(r"\\.", re.DOTALL)
_GROUP_NAME = re.compile(r"\(\?P?<[A-Za-z_]\w*>")


def compile_pattern(pattern: str, case_sensitive: bool | None) -> re.Pattern[str]:
    """`pattern` compiled for the fallback, after refusing what the two engines do not share; None for
    case_sensitive is smart case: an all-lowercase pattern ignores case."""
    if not isinstance(pattern, str) or not pattern:
        raise ToolError("pattern is empty: give a regular expression, e.g. 'def parse' or 'TODO|FIXME'")
    scrubbed = pattern.replace("\\\\", "__")  # an escaped backslash starts no construct
    if "\n" in pattern or "\\n" in scrubbed:
        raise ToolError("search matches within one line; a pattern cannot contain a newline (\\n)")
    for rx, what in _UNSHARED:
        if rx.search(scrubbed):
            raise ToolError(
                f"pattern {pattern!r} uses {what}, outside the syntax ripgrep (Rust regex) and Python's re "
                "share; rewrite it without them (search for something simpler, then read around the hits)"
            )
    if case_sensitive is None:  # smart case: all-lowercase patterns ignore case
        literal = _GROUP_NAME.sub("", _ESCAPE.sub("", pattern))
        case_sensitive = any(c.isupper() for c in literal)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # the parser, not re.compile: a compile served from re's cache warns no more
            _parser.parse(pattern)
            compiled = re.compile(pattern, 0 if case_sensitive else re.IGNORECASE)
    except re.error as exc:
        raise ToolError(
            f"invalid regex {pattern!r}: {exc.msg} at position {exc.pos}; "
            r"escape special characters (\. \( \[ \{ \*) to match them literally"
        ) from exc
    if any(issubclass(w.category, FutureWarning) for w in caught):  # "possible nested set" and kin
        raise ToolError(
            f"pattern {pattern!r} has a [ or --, &&, ~~, || inside a character class, which ripgrep and "
            r"Python's re read differently; escape them there (\[ \-)"
        )
    return compiled


def rg_pattern(pattern: str) -> str:
    """`pattern` as ripgrep 13 accepts it: escaped punctuation that is not a regex character unescaped."""

    def plain(m: re.Match[str]) -> str:
        c = m.group()[1]
        return c if c.isascii() and not c.isalnum() and not c.isspace() and c not in _RUST_META else m.group()

    return _ESCAPE.sub(plain, pattern)
