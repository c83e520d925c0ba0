"""A logged session cut into pieces the conversation can show one at a time, newest first. Pure logic.

Replaying a long log must not build a widget for every event up front: the view shows the last pieces
and builds earlier ones only when they are scrolled to. For that each piece must stand alone, so steps
that were undone are dropped first (an Undone event otherwise reaches back into earlier pieces).
"""

from __future__ import annotations

from rioagent.events import Event, SessionStarted, StepStarted, Undone


def without_undone(events: list[Event]) -> list[Event]:
    """The events as the conversation showed them: each Undone takes its step and those after it away
    (and the prompt that opened the step, when it did); the Undone itself stays, as a note."""
    kept: list[tuple[int, Event]] = []  # (the step each event belongs to, the event)
    step = 0
    for event in events:
        if isinstance(event, StepStarted):
            step = event.step
        if isinstance(event, Undone):
            kept = [(s, e) for s, e in kept if s < event.step or isinstance(e, SessionStarted)]
            if event.prompt:
                openers = [
                    i for i, (s, e) in enumerate(kept) if isinstance(e, SessionStarted) and s == event.step
                ]
                if openers:
                    del kept[openers[-1]]
            step = event.step - 1
        # A run's prompt belongs to the step it opens.
        kept.append((step + 1 if isinstance(event, SessionStarted) else step, event))
    return [e for _, e in kept]


def pieces(events: list[Event]) -> list[tuple[int, list[Event]]]:
    """The events cut before each run's start and each step, with the step number each piece starts
    from: pieces that build their widgets alone."""
    out: list[tuple[int, list[Event]]] = []
    step = 0
    for event in events:
        if not out or isinstance(event, SessionStarted | StepStarted):
            out.append((step, []))
        out[-1][1].append(event)
        if isinstance(event, StepStarted):
            step = event.step
        elif isinstance(event, Undone):
            step = event.step - 1
    return out
