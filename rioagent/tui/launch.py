"""`rioagent` with no subcommand: settings and an optional resumed session, then the app.

Errors that stop it before the screen opens (a bad config, an unknown session) are printed like the
headless ones, with the same exit codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TUI_DEFAULT_APPROVAL = "ask"  # a person is there to answer, so ask unless a config or flag says otherwise


@dataclass
class TuiOptions:
    flags: dict[str, Any] = field(default_factory=dict)  # the command line as a config layer
    resume: str | None = None
    repo: str | None = None


def run_tui(opts: TuiOptions) -> int:
    """Open the TUI; the exit code once it closes."""
    from rioagent.config import ConfigError
    from rioagent.headless import UsageError, error_message, exit_code_for, open_session, print_error
    from rioagent.session import SessionError

    try:
        session_id, history, workspace, settings = open_session(opts.repo, opts.resume, opts.flags)
    except (ConfigError, SessionError, UsageError) as exc:
        print_error(error_message(exc))
        return exit_code_for(exc)
    if "approval" not in settings.sources:
        settings.approval = TUI_DEFAULT_APPROVAL

    from rioagent.tui.app import RioApp

    app = RioApp(settings, workspace, session_id=session_id, history=history)
    code = app.run()
    return int(code or 0)
