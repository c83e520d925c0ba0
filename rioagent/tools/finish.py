"""The finish tool: the model's way to say the task is over. The agent ends the run when it sees it."""

from __future__ import annotations

from rioagent.tools.base import ToolContext, ToolError


def finish(ctx: ToolContext, summary: str) -> str:
    """Return the summary; the agent turns it into Finished(status="done")."""
    if not isinstance(summary, str) or not summary.strip():
        raise ToolError("summary is empty: say what you did, how you checked it, and what is left")
    return summary.strip()
