"""The Textual app: a conversation above a prompt above a status line.

Every agent event comes from AgentSession (the agent's async iterator, run in a Textual worker on the
app's own event loop) and goes to the conversation and the status bar; nothing here runs a second
agent loop or blocks the loop. Slash commands are the app's own; everything else is a prompt.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import ClassVar

from textual.actions import SkipAction
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen

from rioagent.config import APPROVAL_MODES, Settings
from rioagent.config import state_dir as default_state_dir
from rioagent.events import (
    ApprovalRequested,
    ContentDelta,
    Event,
    Finished,
    ReasoningDelta,
    StepStarted,
    ToolFinished,
    ToolStarted,
)
from rioagent.tui import commands, gcpolicy, mentions
from rioagent.tui.approver import TuiApprover
from rioagent.tui.controller import AgentSession, ModelFactory
from rioagent.tui.history import PromptHistory
from rioagent.tui.slash import SlashCommands
from rioagent.tui.status import StatusInfo
from rioagent.tui.widgets.conversation import Conversation
from rioagent.tui.widgets.prompt_bar import PromptBar
from rioagent.tui.widgets.status_bar import StatusBar

QUIT_WINDOW = 2.0  # seconds in which a second Ctrl+C quits
THEMES = ("textual-dark", "textual-light")


class RioApp(SlashCommands, App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "rioagent"
    ENABLE_COMMAND_PALETTE = False  # Ctrl+P is the prompt's; slash commands are the palette here
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+c", "ctrl_c", "Quit (twice)", priority=True, show=False),
        Binding("escape", "interrupt", "Interrupt", show=False),
        Binding("shift+tab", "cycle_approval", "Approval mode", priority=True, show=False),
        Binding("ctrl+t", "toggle_theme", "Theme", show=False),
        Binding("pageup", "scroll(-1)", "Scroll up", priority=True, show=False),
        Binding("pagedown", "scroll(1)", "Scroll down", priority=True, show=False),
    ]

    def __init__(
        self,
        settings: Settings,
        workspace: Path,
        *,
        session_id: str | None = None,
        history: list[Event] | None = None,
        model_factory: ModelFactory | None = None,
        clock: Callable[[], float] = time.monotonic,
        theme: str = "textual-dark",
        prompt_history: PromptHistory | None = None,
    ):
        super().__init__()
        self.settings = settings
        self.workspace = Path(workspace).resolve()
        self.model_factory = model_factory
        self.clock = clock
        self.initial_theme = theme
        self.approver = TuiApprover(self)
        self.session = self._new_session(session_id, history)
        self.info = StatusInfo(approval=settings.approval, think=settings.think)
        self._garbage_since: float | None = None  # monotonic: when a run ended that left garbage
        self.prompt_history = prompt_history or PromptHistory(default_state_dir() / "prompt-history.jsonl")
        self._opened = asyncio.Event()
        self._last_ctrl_c = float("-inf")
        self.interrupt_requested_at: float | None = None  # for the benchmark: Esc -> result latency

    def _new_session(self, session_id: str | None, history: list[Event] | None) -> AgentSession:
        return AgentSession(
            self.settings,
            self.workspace,
            approver=self.approver,
            session_id=session_id,
            history=history,
            model_factory=self.model_factory,
        )

    # ---- layout ----------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # Kept, not queried: every streamed token reaches the conversation, and a DOM query per token
        # was a tenth of the loop's time while streaming.
        self.conversation = Conversation(id="conversation")
        self.prompt_bar = PromptBar(self.workspace, self.prompt_history, id="prompt")
        self.status_bar = StatusBar(self.info, clock=self.clock, id="status")
        self.conversation.last_input_at = lambda: self.prompt_bar.input.last_key_at
        yield self.conversation
        yield self.prompt_bar
        yield self.status_bar

    def on_mount(self) -> None:
        self.theme = self.initial_theme
        self.info.model = self.settings.profile
        self.info.state = "starting"
        self.status_bar.redraw()
        self.prompt_bar.input.focus()
        # After the first paint: building the model (or replaying a long session) must not delay it.
        self.call_after_refresh(self._start_session)

    def _start_session(self) -> None:
        self.run_worker(self._open(), group="session", exit_on_error=False)

    async def _open(self) -> None:
        self._opened.clear()
        session = self.session
        if session.history:
            for event in session.history:
                self.info.apply(event)
            await self.conversation.replay(session.history)
            await self.conversation.note(
                f"Resumed session `{session.session_id}` in `{session.workspace.name}`"
            )
        try:
            shown = await session.open()
        except Exception as exc:  # a bad endpoint or profile: say so and keep the app usable
            self.info.state = "no model"
            await self.conversation.notice(f"could not start the model: {exc}", "error")
        else:
            self.info.model, self.info.backend = session.model.name, session.model.backend
            self.info.context_window = int(getattr(session.model, "context_window", 0) or 0)
            self.info.state = "ready"
            for event in shown:
                await self.conversation.show(event)
        finally:
            self._opened.set()
            self.status_bar.redraw()
            from rioagent.tui.markdown_render import warm_up

            await asyncio.to_thread(warm_up)
            gcpolicy.freeze_startup()  # Textual, the agent, the model's client: they live as long as the app
            gcpolicy.hold()
            self.set_interval(gcpolicy.QUIET_S / 2, self._collect_when_quiet)

    def _collect_when_quiet(self) -> None:
        """The full garbage collection a run left for later, once nothing runs and no one types."""
        if self._garbage_since is None or self.session.busy:
            return
        now = time.monotonic()
        if now - max(self._garbage_since, self.prompt_bar.input.last_key_at) >= gcpolicy.QUIET_S:
            self._garbage_since = None
            gcpolicy.collect_full()

    def on_unmount(self) -> None:
        gcpolicy.release()

    # ---- events ----------------------------------------------------------------------------------------

    async def _show(self, event: Event) -> None:
        """One event to the status bar and the conversation."""
        self.info.apply(event)
        state = self._state_for(event)
        if state and state != self.info.state:
            self.info.state = state
            self.status_bar.redraw()
        elif not isinstance(event, ReasoningDelta | ContentDelta):
            self.status_bar.redraw()
        await self.conversation.show(event)

    def _state_for(self, event: Event) -> str:
        if isinstance(event, ReasoningDelta | StepStarted):
            return "thinking"
        if isinstance(event, ContentDelta):
            return "writing"
        if isinstance(event, ToolStarted):
            return f"running {event.name}"
        if isinstance(event, ApprovalRequested):
            return "waiting for you"
        if isinstance(event, ToolFinished):
            return "thinking"
        if isinstance(event, Finished):
            return "ready" if event.status in ("done", "interrupted") else event.status
        return ""

    async def _drive(self, events: AsyncIterator[Event]) -> None:
        """Show a stream of session events while the status bar spins."""
        self.status_bar.set_running(True)
        try:
            async for event in events:
                await self._show(event)
        except Exception as exc:
            await self.conversation.notice(f"{type(exc).__name__}: {exc}", "error")
        finally:
            self.info.state = "ready"
            self.status_bar.set_running(False)
            self.interrupt_requested_at = None
            self._garbage_since = time.monotonic()

    # ---- the prompt ------------------------------------------------------------------------------------

    async def on_prompt_bar_submitted(self, message: PromptBar.Submitted) -> None:
        invocation = commands.parse(message.text)
        if invocation is not None:
            await self.run_command(invocation)
            return
        if self.session.busy:
            self.prompt_bar.set_text(message.text)
            self.notify("The agent is working: wait, or press Esc to interrupt it.", severity="warning")
            return
        self.run_worker(self._send(message.text), group="agent", exclusive=True, exit_on_error=False)

    async def _send(self, text: str) -> None:
        await self._opened.wait()
        if not self.session.ready:
            await self.conversation.notice(
                "no model to send to: fix the profile (/model) and try again", "error"
            )
            return
        task, _ = mentions.attach(text, self.session.workspace)
        await self._drive(self.session.run(task))
        self.prompt_bar.forget_files()

    # ---- keys ------------------------------------------------------------------------------------------

    def action_interrupt(self) -> None:
        if self.session.busy:
            self.interrupt_requested_at = time.monotonic()
            self.info.state = "interrupting"
            self.status_bar.redraw()
            self.session.interrupt()

    async def action_ctrl_c(self) -> None:
        selected = self.screen.get_selected_text()
        if selected:
            self.copy_to_clipboard(selected)
            self.screen.clear_selection()
            return
        now = time.monotonic()
        if now - self._last_ctrl_c < QUIT_WINDOW:
            await self.action_quit()
            return
        self._last_ctrl_c = now
        self.action_interrupt()
        self.notify("Press Ctrl+C again to quit", timeout=QUIT_WINDOW)

    def action_cycle_approval(self) -> None:
        if isinstance(self.screen, ModalScreen):
            self.screen.focus_previous()
            return
        modes = list(APPROVAL_MODES)
        mode = modes[(modes.index(self.settings.approval) + 1) % len(modes)]
        self.settings.approval = self.info.approval = mode
        self.status_bar.redraw()

    def action_toggle_theme(self) -> None:
        self.theme = THEMES[1] if self.theme == THEMES[0] else THEMES[0]

    def action_scroll(self, direction: int) -> None:
        if isinstance(self.screen, ModalScreen):
            raise SkipAction()
        if direction < 0:
            self.conversation.scroll_page_up()
        else:
            self.conversation.scroll_page_down()

    async def action_quit(self) -> None:
        if self.session.busy:
            self.session.interrupt()
        await self.session.close()
        self.exit(0)
