"""Approval requests answered by a person: the agent awaits this; it shows the ApprovalScreen and
returns the answer. An interrupt cancels the wait, and the prompt closes with it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from rioagent.events import ApprovalRequested

if TYPE_CHECKING:  # imported on the first request: the approval rules and tool specs (yaml) are not
    # needed for the first frame
    from rioagent.approval import ApprovalDecision
    from rioagent.tools.base import ToolSpec


class TuiApprover:
    def __init__(self, app: Any):
        self.app = app
        self._specs: dict[str, ToolSpec] | None = None

    def pattern(self, request: ApprovalRequested) -> str:
        """What "allow always" would cover, as the agent will remember it."""
        from rioagent.approval import remember_patterns
        from rioagent.tools.base import load_specs

        if self._specs is None:
            self._specs = {spec.name: spec for spec in load_specs()}
        spec = self._specs.get(request.name)
        if spec is None:
            return request.name
        patterns = remember_patterns(spec, request.arguments)
        return patterns[-1] if spec.access == "exec" else f"every {request.name}"

    async def __call__(self, request: ApprovalRequested) -> ApprovalDecision:
        from rioagent.approval import ApprovalDecision
        from rioagent.tui.screens.approval import ApprovalScreen

        answer: asyncio.Future[ApprovalDecision] = asyncio.get_running_loop().create_future()
        answered = False

        def done(decision: ApprovalDecision | None) -> None:
            nonlocal answered
            answered = True
            if not answer.done():
                answer.set_result(decision or ApprovalDecision(False, note="the prompt was closed"))

        screen = ApprovalScreen(request, self.pattern(request))
        await self.app.push_screen(screen, callback=done)
        try:
            return await answer
        finally:
            if not answered and self.app.screen is screen:  # interrupted while asking
                self.app.pop_screen()
