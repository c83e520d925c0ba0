"""When the garbage collector may pause the app.

A full collection walks every tracked object; after a long answer that took 150-650 ms on a slow core
(evals/bench_tui.py), and a key pressed meanwhile waits for it. Young collections take a few ms. So while
a run goes on only the young generations are collected (automatically, as usual), and the full
collection waits for a quiet moment: no run, and no key for QUIET_S. Memory freed by reference
counting (most of it) is freed as usual all along.
"""

from __future__ import annotations

import gc

QUIET_S = 2.0  # no run and no key for this long: a full collection will not be felt
_NEVER = 1 << 30  # a generation-2 threshold no session reaches
_thresholds = gc.get_threshold()


def freeze_startup() -> None:
    """What is loaded by now lives as long as the app: kept out of every later collection's work."""
    gc.freeze()


def hold() -> None:
    """A run starts: from now on only young collections, until release()."""
    young, middle, _ = _thresholds
    gc.set_threshold(young, middle, _NEVER)


def release() -> None:
    gc.set_threshold(*_thresholds)


def held() -> bool:
    return gc.get_threshold()[2] == _NEVER


def collect_full() -> None:
    gc.collect()
