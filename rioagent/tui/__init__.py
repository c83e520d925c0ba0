"""The interactive TUI (`rioagent` with no subcommand), built on Textual.

It consumes the agent's events like every other front end: rioagent.tui.controller runs the Agent and
logs its session; the app turns each event into a widget. Textual is imported only by the modules
that need it, so importing this package (or rioagent.cli) stays cheap.
"""

from __future__ import annotations

__all__ = ["TuiOptions", "run_tui"]


def __getattr__(name: str) -> object:
    # Lazy: `from rioagent.tui import run_tui` should not pay for Textual before it is used.
    if name in __all__:
        from rioagent.tui import launch

        return getattr(launch, name)
    raise AttributeError(name)
