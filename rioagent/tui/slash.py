"""The slash commands, as a part of the app (a mixin of RioApp): /model /think /undo /diff /compact /clear
/sessions /resume /approval /help /quit. Each reports in the conversation; none blocks the event loop."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from rioagent.config import APPROVAL_MODES, THINK_MODES
from rioagent.events import Event, Undone
from rioagent.tui import commands, mentions
from rioagent.tui.status import StatusInfo

MAX_DIFF_LINES = 2000


class SlashCommands:
    """Needs the app's conversation, session, settings, info, status_bar and prompt_bar."""

    # Provided by RioApp; declared for readers and type checkers.
    conversation: Any
    prompt_bar: Any
    status_bar: Any
    session: Any
    settings: Any
    info: StatusInfo
    workspace: Path
    _opened: asyncio.Event

    async def run_command(self, invocation: commands.Invocation) -> None:
        name, arg = invocation.name, invocation.arg
        if invocation.command is None:
            await self.conversation.notice(f"unknown command /{name}; /help lists them", "warning")
            return
        if name == "quit":
            await self.action_quit()
            return
        if name == "help":
            await self.conversation.note(commands.help_text())
            return
        if name == "approval":
            await self._set_approval(arg)
            return
        if self.session.busy:
            await self.conversation.notice(
                f"/{name} waits until the agent stops (Esc interrupts it)", "warning"
            )
            return
        handlers = {
            "model": self._cmd_model, "think": self._cmd_think, "undo": self._cmd_undo,
            "diff": self._cmd_diff, "compact": self._cmd_compact, "clear": self._cmd_clear,
            "sessions": self._cmd_sessions, "resume": self._cmd_resume,
        }  # fmt: skip
        self.run_worker(handlers[name](arg), group="command", exit_on_error=False)

    async def _set_approval(self, mode: str) -> None:
        if not mode:
            modes = ", ".join(APPROVAL_MODES)
            await self.conversation.notice(f"approval mode: {self.settings.approval} (choose from {modes})")
            return
        if mode not in APPROVAL_MODES:
            await self.conversation.notice(
                f"no approval mode {mode!r}; use one of {', '.join(APPROVAL_MODES)}", "warning"
            )
            return
        self.settings.approval = self.info.approval = mode
        self.status_bar.redraw()
        await self.conversation.notice(f"approval mode: {mode}")

    async def _reopen(self, what: str, **changes: str) -> None:
        await self._opened.wait()
        self.info.state = "starting"
        self.status_bar.redraw()
        try:
            shown = await self.session.reopen(**changes)
        except Exception as exc:
            await self.conversation.notice(f"{what} not changed: {exc}", "error")
        else:
            for event in shown:
                await self.conversation.show(event)
            await self.conversation.notice(f"{what}: {', '.join(f'{k} {v}' for k, v in changes.items())}")
        model = self.session.model
        if model is not None:
            self.info.model, self.info.backend = model.name, model.backend
            self.info.context_window = int(getattr(model, "context_window", 0) or 0)
        self.info.think = self.settings.think
        self.info.state = "ready"
        self.status_bar.redraw()

    async def _cmd_model(self, arg: str) -> None:
        if not arg:
            model = self.session.model
            profiles = ", ".join(sorted(self.settings.models))
            current = f"{model.name} ({model.backend})" if model is not None else "none"
            await self.conversation.notice(
                f"model: {current}, profile {self.settings.profile}; profiles: {profiles}"
            )
            return
        await self._reopen("model", profile=arg)

    async def _cmd_think(self, arg: str) -> None:
        if not arg:
            await self.conversation.notice(
                f"thinking: {self.settings.think} (choose from {', '.join(THINK_MODES)})"
            )
            return
        if arg not in THINK_MODES:
            await self.conversation.notice(
                f"no thinking mode {arg!r}; use one of {', '.join(THINK_MODES)}", "warning"
            )
            return
        await self._reopen("thinking", think=arg)

    async def _cmd_undo(self, _: str) -> None:
        await self._opened.wait()
        if not self.session.ready:
            await self.conversation.notice("nothing to undo: no model is running this session", "warning")
            return
        async for event in self.session.undo():
            await self._show(event)
            if isinstance(event, Undone) and event.prompt and not self.prompt_bar.text.strip():
                self.prompt_bar.set_text(mentions.split_attached(event.prompt)[0])
        self.prompt_bar.forget_files()

    async def _cmd_diff(self, _: str) -> None:
        try:
            patch = await asyncio.to_thread(self.session.patch)
        except Exception as exc:
            await self.conversation.notice(f"no diff: {exc}", "warning")
            return
        if not patch.strip():
            await self.conversation.notice("no changes in this session yet")
            return
        lines = patch.splitlines()
        more = f"\n\n… {len(lines) - MAX_DIFF_LINES} more lines" if len(lines) > MAX_DIFF_LINES else ""
        body = "\n".join(lines[:MAX_DIFF_LINES]).replace("```", "`\u200b``")
        await self.conversation.note(f"**Changes in this session**\n\n```diff\n{body}\n```{more}")

    async def _cmd_compact(self, _: str) -> None:
        await self._opened.wait()
        if self.session.ready:
            self.info.state = "compacting"
            await self._drive(self.session.compact())

    async def _cmd_clear(self, _: str) -> None:
        await self._switch_session(None, None)

    async def _cmd_sessions(self, _: str) -> None:
        from rioagent.session import list_sessions
        from rioagent.tui.screens.sessions import SessionsScreen

        infos = await asyncio.to_thread(list_sessions)
        chosen = await self.push_screen_wait(SessionsScreen(infos, current=self.session.session_id))
        if chosen:
            await self._cmd_resume(chosen)

    async def _cmd_resume(self, arg: str) -> None:
        if not arg:
            await self._cmd_sessions("")
            return
        from rioagent.headless import load_resume

        try:
            session_id, history, ran_in = await asyncio.to_thread(load_resume, arg)
        except Exception as exc:
            await self.conversation.notice(str(exc), "warning")
            return
        if ran_in and Path(ran_in).is_dir():
            self.workspace = Path(ran_in).resolve()
            self.prompt_bar.workspace = self.workspace
        await self._switch_session(session_id, history)

    async def _switch_session(self, session_id: str | None, history: list[Event] | None) -> None:
        await self._opened.wait()
        await self.session.close()
        self.session = self._new_session(session_id, history)
        self.info = self.status_bar.info = StatusInfo(
            approval=self.settings.approval, think=self.settings.think
        )
        self.prompt_bar.forget_files()
        await self.conversation.clear()
        await self._open()
