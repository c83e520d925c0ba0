"""One conversation as the TUI holds it: the model, the Agent and the session log.

This is the headless wiring (rioagent.headless.run_task) kept alive across prompts: the same model
factory, the same Agent, the same SessionLog, and every event logged before the view sees it. The app
talks to the agent only through this object and only gets events back.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rioagent.config import Settings
from rioagent.config import state_dir as default_state_dir
from rioagent.events import Event, Finished, Notice
from rioagent.session import SessionLog, new_session_id

if TYPE_CHECKING:
    from rioagent.models.base import Model

ModelFactory = Callable[[Settings], Awaitable["Model"]]


async def default_model_factory(settings: Settings) -> Model:
    profile = settings.model_profile()
    if profile.backend == "endpoint":
        # Importing the client (httpx, ssl) takes a few hundred ms: in a thread, so the first frame and
        # the keys typed meanwhile are not held up by it.
        await asyncio.to_thread(importlib.import_module, "rioagent.models.endpoint")
    from rioagent.models.factory import create_model

    return await create_model(profile, think=settings.think)


class AgentSession:
    def __init__(
        self,
        settings: Settings,
        workspace: Path,
        *,
        approver: Any = None,
        session_id: str | None = None,
        history: list[Event] | None = None,
        model_factory: ModelFactory | None = None,
        state_dir: Path | None = None,
    ):
        self.settings = settings
        self.workspace = Path(workspace).resolve()
        self.approver = approver
        self.session_id = session_id or new_session_id()
        self.history: list[Event] = list(history or [])  # every logged event: what a rebuild replays
        self.model_factory = model_factory or default_model_factory
        self.state_dir = state_dir or default_state_dir()
        self.model: Model | None = None
        self.agent: Any = None
        self._log: SessionLog | None = None
        self.busy = False

    @property
    def ready(self) -> bool:
        return self.agent is not None

    async def open(self) -> list[Event]:
        """Build the model and the agent (from the history, on resume); events worth showing come back."""
        shown: list[Event] = []
        # The agent's modules (prompts, tool specs from yaml) load in a thread meanwhile, off the loop.
        agent_module = asyncio.create_task(asyncio.to_thread(importlib.import_module, "rioagent.agent"))
        try:
            self.model = await self.model_factory(self.settings)
        finally:
            agent_class = (await agent_module).Agent

        banner = getattr(self.model, "banner", None)
        if banner:
            shown.append(Notice(level="info", message=str(banner)))
        self.agent = await asyncio.to_thread(  # reads the tool specs and the repository: off the loop
            agent_class,
            self.model,
            self.settings,
            self.workspace,
            session_id=self.session_id,
            approver=self.approver,
            history=self.history,
            artifacts_dir=self.state_dir / "artifacts" / self.session_id,
            state_dir=self.state_dir,
        )
        if self._log is None:
            self._log = SessionLog(self.session_id, directory=self.state_dir / "sessions")
        return shown

    def _keep(self, event: Event) -> Event:
        if isinstance(event, Finished) and not event.session_id:
            event.session_id = self.session_id
        if self._log is not None:
            self._log.append(event)
        from rioagent.events import TRANSIENT_EVENTS

        if not isinstance(event, TRANSIENT_EVENTS):
            self.history.append(event)
        return event

    async def _drive(self, events: AsyncIterator[Event]) -> AsyncIterator[Event]:
        self.busy = True
        try:
            async for event in events:
                yield self._keep(event)
        finally:
            self.busy = False

    async def run(self, task: str) -> AsyncIterator[Event]:
        """The agent's events for one prompt, logged; always ends with Finished."""
        from rioagent.headless import failed_result

        assert self.agent is not None, "open() first"
        finished = False
        try:
            async for event in self._drive(self.agent.run(task)):
                finished = finished or isinstance(event, Finished)
                yield event
        except Exception as exc:  # a bug in the loop: the view still gets its result
            yield self._keep(failed_result(self.session_id, "error", f"{type(exc).__name__}: {exc}"))
            return
        if not finished:
            yield self._keep(failed_result(self.session_id, "error", "the agent stopped without a result"))

    async def undo(self) -> AsyncIterator[Event]:
        assert self.agent is not None, "open() first"
        async for event in self._drive(self.agent.undo()):
            yield event

    async def compact(self) -> AsyncIterator[Event]:
        assert self.agent is not None, "open() first"
        async for event in self._drive(self.agent.compact()):
            yield event

    def interrupt(self) -> None:
        if self.agent is not None:
            self.agent.interrupt()

    def patch(self) -> str:
        """Every change of the session so far (blocking: git; call it in a thread)."""
        from rioagent.checkpoints import CheckpointError, Checkpoints

        try:
            return Checkpoints(self.workspace, self.session_id, self.state_dir).patch()
        except CheckpointError as exc:
            if "base" in str(exc):
                return ""
            raise

    async def reopen(self, **changes: Any) -> list[Event]:
        """A new model (another profile, another thinking mode) under the same conversation. When the new
        one cannot start, the old settings come back (and their model) before the error is raised."""
        old = {key: getattr(self.settings, key) for key in changes}

        def restore() -> None:
            for key, value in old.items():
                setattr(self.settings, key, value)

        for key, value in changes.items():
            setattr(self.settings, key, value)
        try:
            self.settings.model_profile()  # an unknown profile fails here, before anything is closed
        except Exception:
            restore()
            raise
        await self._close_agent()
        try:
            return await self.open()
        except Exception:
            restore()
            await self.open()
            raise

    async def _close_agent(self) -> None:
        agent, model = self.agent, self.model
        self.agent = self.model = None
        if agent is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(agent.close)
        if model is not None:
            with contextlib.suppress(Exception):
                await model.aclose()

    async def close(self) -> None:
        await self._close_agent()
        if self._log is not None:
            self._log.close()
            self._log = None
