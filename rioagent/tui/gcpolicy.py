"""When the garbage collector may pause the app.

A long streamed answer creates and (after the view trims it) drops thousands of widgets, all in
reference cycles that only a collection frees; Python's own schedule then pauses the loop 100-600 ms
in the middle of the stream (measured with evals/bench_tui.py), felt as a stalled key. So while a run
goes on the automatic collector is off and collections are done at quiet points instead: between
steps, when the run ends, and (a safety valve) whenever a single step has piled up too much.
Memory the loop frees by reference counting (most of it) is freed as usual.
"""

from __future__ import annotations

import gc

VALVE = 400_000  # tracked objects allocated (net) since the last collection: collect beyond this


def freeze_startup() -> None:
    """What is loaded by now lives as long as the app: kept out of every later collection's work."""
    gc.freeze()


def hold() -> None:
    """A run starts: no automatic collections until release()."""
    gc.disable()


def release() -> None:
    gc.enable()


def collect_now() -> None:
    """A full collection, at a point where nothing streams."""
    gc.collect()


def collect_if_piled_up() -> None:
    """Cheap to call per event: collects only when one step has allocated past VALVE."""
    if gc.get_count()[0] > VALVE:
        gc.collect()
