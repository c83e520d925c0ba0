"""Argument types shared by the command-line parsers (`rioagent` and `rioagent eval`)."""

from __future__ import annotations

import argparse

EXIT_USAGE = 2  # a usage or config error, for every command


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value
