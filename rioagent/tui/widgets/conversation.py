"""The conversation: every agent event becomes (or updates) one widget here, live or replayed from a
session log, through the same code, so a resumed session looks like it did.

Each widget carries the step it belongs to, which is what /undo takes away. Streamed text is appended
to the widget that shows it; nothing already on screen is rendered again.

Long sessions: a replayed log is built in one batch and only its last WINDOW widgets are mounted; the
earlier ones wait, built but unmounted, behind a marker and come in a chunk at a time when the view is
scrolled to the top (or Home is pressed). Mounting thousands of widgets at once is what would lag.

A live session is kept the same way: while the view follows the newest output, the oldest widgets
beyond a budget are unmounted and wait behind the same marker as recipes for fresh copies. Every
frame lays out every mounted widget, so without this each token would cost more as the session grows.

The Markdown widgets (and markdown_it) are imported on first use: they are not in the first frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Static

from rioagent.events import (
    ApprovalRequested,
    ApprovalResolved,
    AssistantMessage,
    Checkpoint,
    Compacted,
    ContentDelta,
    Event,
    Finished,
    Notice,
    ReasoningDelta,
    SessionStarted,
    StepStarted,
    ToolFinished,
    ToolOutputDelta,
    ToolStarted,
    Undone,
    UserMessage,
)
from rioagent.tui import replay
from rioagent.tui.css import load_css
from rioagent.tui.stream_queue import FLUSH_CHARS, Pace, StreamQueue
from rioagent.tui.streamfilter import ToolCallFilter
from rioagent.tui.widgets.notice import NoticeView
from rioagent.tui.widgets.recipes import Piece, Trimmed, assistant_text, recipe, thought, weight
from rioagent.tui.widgets.run_result import RunResult
from rioagent.tui.widgets.tool_call import ToolCallView
from rioagent.tui.widgets.user_prompt import UserPrompt

if TYPE_CHECKING:
    from rioagent.tui.widgets.assistant_text import AssistantText
    from rioagent.tui.widgets.thought import Thought

WINDOW = 120  # widgets mounted when a long log is replayed
BACKLOG_CHARS = 2 * FLUSH_CHARS  # answer queued beyond this holds the model back (see show)
INPUT_QUIET_S = 0.06  # after a key, the stream waits this long (a frame or two) ...
INPUT_HOLD_S = 0.2  # ... but never longer than this at a stretch, or steady typing would freeze it
SPLIT_CHARS = 3000  # a streamed answer longer than this continues in a new widget at a block boundary
CHUNK = 60  # earlier widgets mounted each time the top is reached
# Mounted nodes (a Markdown widget counts its blocks) kept while following the output: a few screens.
# Each frame lays out every mounted node (~0.3 ms each on a slow core), so this bounds a frame's work.
LIVE_BUDGET = 120
LIVE_KEEP = 80  # trimmed down to this, so that trimming (itself a layout) is not done every frame


class EarlierMarker(Static):
    """Stands for the widgets not mounted yet, above everything shown."""

    def set_count(self, count: int) -> None:
        self.update(Text(f"▲ {count} earlier · scroll up or press Home for more", style="dim"))


class Conversation(VerticalScroll, can_focus=True):
    DEFAULT_CSS = load_css(__file__)
    BINDINGS: ClassVar[list[BindingType]] = [Binding("home", "home", "Top", show=False)]

    def __init__(self, **kwargs: object):
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.step = 0
        self._thought: Thought | None = None
        self._text: AssistantText | None = None
        self._filter = ToolCallFilter()
        self._tools: dict[str, ToolCallView] = {}
        self._batch: list[Widget] | None = None  # while building logged events: built, not mounted
        self.earlier: list[Piece] = []  # logged pieces not built yet, or trimmed widgets, oldest first
        self._marker = EarlierMarker(classes="earlier")
        self._loading = False
        self._queued = StreamQueue()  # streamed text not drawn yet
        self._room = asyncio.Event()  # set while the answer's backlog is within BACKLOG_CHARS
        self._room.set()
        self._flush_timer: Timer | None = None
        self._pace = Pace()
        self._held_since: float | None = None  # monotonic: since when the stream waits for typing
        self.last_input_at: Callable[[], float] = lambda: 0.0  # monotonic; the app points it at the prompt
        self._lock = asyncio.Lock()

    def on_mount(self) -> None:
        self.anchor()

    # ---- building --------------------------------------------------------------------------------------

    async def _add(self, widget: Widget) -> Widget:
        if not hasattr(widget, "step"):
            widget.step = self.step  # type: ignore[attr-defined]
        if self._batch is not None:
            self._batch.append(widget)
        else:
            await self.mount(widget)
        return widget

    def items(self) -> list[Widget]:
        """The conversation's mounted widgets in order (not the marker)."""
        return [c for c in self.children if c is not self._marker]

    async def _build(self, step: int, events: list[Event]) -> tuple[list[Widget], int]:
        """The widgets for a piece of a log, built and not mounted, and the step it ends at. Nothing in
        here waits on the screen, so it runs through without giving the loop away: live events cannot
        slip in between, and the live state is put back after."""
        saved = (self.step, self._thought, self._text, self._filter, self._tools)
        self.step, self._thought, self._text, self._tools = step, None, None, {}
        self._batch = []
        try:
            for event in events:
                await self.show(event)
            await self._end_turn()
            return self._batch, self.step
        finally:
            self._batch = None
            self.step, self._thought, self._text, self._filter, self._tools = saved

    async def replay(self, events: list[Event]) -> None:
        """Show a logged session: the newest pieces, about WINDOW widgets, mounted in one call."""
        parts = replay.pieces(replay.without_undone(events))
        shown: list[Widget] = []
        final = None
        while parts and len(shown) < WINDOW:
            built, end = await self._build(*parts.pop())
            final = end if final is None else final
            shown[:0] = built
        self.earlier = list(parts)
        self.step = final or 0
        await self._mount_marker()
        if shown:
            await self.mount(*shown)
        self.scroll_end(animate=False, immediate=True)

    async def _mount_marker(self) -> None:
        if self.earlier:
            self._marker.set_count(len(self.earlier))
            if not self._marker.is_attached:
                await self.mount(self._marker, before=0 if self.children else None)
        elif self._marker.is_attached:
            await self._marker.remove()
            self._marker = EarlierMarker(classes="earlier")

    async def load_earlier(self, count: int = CHUNK) -> int:
        """Build and mount about `count` earlier widgets above those shown, keeping the view in place."""
        if not self.earlier or self._loading:
            return 0
        self._loading = True
        try:
            built: list[Widget] = []
            while self.earlier and len(built) < count:
                piece = self.earlier.pop()
                if isinstance(piece, Trimmed):
                    widget = piece.make()
                    widget.step = piece.step  # type: ignore[attr-defined]
                    built.insert(0, widget)
                else:
                    built[:0] = (await self._build(*piece))[0]
            below = self.virtual_size.height - self.scroll_y
            if built:
                await self.mount(*built, after=self._marker)
            await self._mount_marker()
            self.call_after_refresh(lambda: self.scroll_to(y=self.virtual_size.height - below, animate=False))
            return len(built)
        finally:
            self._loading = False

    def _following(self) -> bool:
        """The view follows the newest output (Textual's anchor, not released by scrolling up)."""
        return self._anchored and not self._anchor_released

    async def _trim(self) -> None:
        """Unmount the oldest widgets of a live session beyond LIVE_BUDGET, down to LIVE_KEEP, keeping a
        recipe for each behind the marker. Only while following the output: a reader scrolled up keeps
        what they read, and nothing still streaming or running is touched."""
        if self._batch is not None or self._loading or not self._following():
            return
        items = self.items()
        weights = [weight(w) for w in items]
        total = sum(weights)
        if total <= LIVE_BUDGET:
            return
        gone: list[Widget] = []
        for widget, size in zip(items, weights, strict=True):
            rebuild = None if total <= LIVE_KEEP else recipe(widget, self._thought)
            if rebuild is None:
                break
            gone.append(widget)
            prompt = isinstance(widget, UserPrompt)
            self.earlier.append(Trimmed(getattr(widget, "step", 0), rebuild, prompt=prompt))
            total -= size
        if gone:
            await self.remove_children(gone)
            await self._mount_marker()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value <= 0 < old_value and self.earlier and not self._loading:
            self.call_later(self.load_earlier)

    async def action_home(self) -> None:
        """To the top of what is shown, with a few more earlier steps brought in first."""
        await self.load_earlier(4 * CHUNK)
        self.call_after_refresh(lambda: self.scroll_home(animate=False))

    async def note(self, markdown: str) -> None:
        """A note of the app's own (help, a diff), in Markdown."""
        from rioagent.tui.widgets.markdown_note import MarkdownNote

        await self._add(MarkdownNote(markdown, step=self.step))

    async def notice(self, message: str, level: str = "info") -> None:
        await self._add(NoticeView(message, level=level, step=self.step))

    async def clear(self) -> None:
        self.step = 0
        self._thought = self._text = None
        self._tools.clear()
        self.earlier = []
        await self.remove_children()
        self._marker = EarlierMarker(classes="earlier")

    # ---- events ----------------------------------------------------------------------------------------

    async def show(self, event: Event) -> None:
        """Show one agent event (the only entry point the app uses).

        Streamed pieces are only queued here (a string append) and reach their widget in batches (see
        Pace), one write per batch: a widget update per token would cost a frame per token. Any other event
        first flushes what is queued, so the order on screen stays the order of the events.

        A model faster than the screen is held back here (the agent awaits this) once BACKLOG_CHARS of
        its answer wait to be drawn: the view never falls far behind, and no flush has much to draw."""
        if isinstance(event, ReasoningDelta | ContentDelta):
            kind = "reasoning" if isinstance(event, ReasoningDelta) else "content"
            self._queued.put(kind, event.text)
            if self._flush_timer is None:
                self._flush_timer = self.set_timer(self._pace.interval, self._paced_flush)
            if kind == "content" and self._queued.backlog > BACKLOG_CHARS:
                self._room.clear()
                with contextlib.suppress(TimeoutError):  # never stuck: a view torn down draws nothing
                    await asyncio.wait_for(self._room.wait(), timeout=1.0)
            return
        async with self._lock:  # the flush timer must not write in the middle of this event
            await self._drain()
            await self._handle(event)
            await self._trim()

    async def _handle(self, event: Event) -> None:
        if isinstance(event, SessionStarted):
            if event.task.strip():
                await self._add(UserPrompt(event.task, step=self.step + 1))
        elif isinstance(event, StepStarted):
            await self._end_turn()
            self.step = event.step
            self._filter = ToolCallFilter()
        elif isinstance(event, AssistantMessage):
            await self._assistant(event)
        elif isinstance(event, ToolStarted):
            await self._tool_started(event)
        elif isinstance(event, ApprovalRequested):
            tool = self._tools.get(event.call_id)
            if tool is not None:
                tool.set_state("waiting", "waiting for your approval")
        elif isinstance(event, ApprovalResolved):
            tool = self._tools.get(event.call_id)
            if tool is not None:
                note = event.note if event.note else ("allowed" if event.allowed else "denied")
                tool.set_state("running" if event.allowed else "denied", note)
        elif isinstance(event, ToolOutputDelta):
            tool = self._tools.get(event.call_id)
            if tool is not None and not tool.body_kind:
                tool.append_live(event.text)
        elif isinstance(event, ToolFinished):
            await self._tool_finished(event)
        elif isinstance(event, UserMessage):
            # The agent's own nudges (a malformed call, no call at all): shown small, they are not the user.
            first = event.content.strip().splitlines()[0] if event.content.strip() else ""
            await self.notice(f"sent to the model: {first}")
        elif isinstance(event, Notice):
            await self.notice(event.message, event.level)
        elif isinstance(event, Checkpoint):
            if event.changed_paths:
                shown = ", ".join(event.changed_paths[:5]) + (" …" if len(event.changed_paths) > 5 else "")
                await self.notice(f"checkpoint after step {event.step}: {shown}")
        elif isinstance(event, Compacted):
            await self.notice(
                f"compacted: {event.messages_removed} messages, "
                f"{event.tokens_before} → {event.tokens_after} tokens"
            )
        elif isinstance(event, Undone):
            await self._undone(event)
        elif isinstance(event, Finished):
            await self._end_turn()
            await self._add(RunResult(event, step=self.step))

    async def flush(self) -> None:
        """Write the queued streamed text to its widgets now."""
        async with self._lock:
            await self._drain()
            await self._trim()

    async def _paced_flush(self) -> None:
        """The flush timer's: a batch of the answer sized and spaced by what drawing costs (see Pace).
        Typing comes first: for INPUT_QUIET_S after a key the stream waits (at most INPUT_HOLD_S in all),
        so the frame that shows the key is not also drawing new text."""
        now = time.monotonic()
        quiet = self.last_input_at() + INPUT_QUIET_S - now
        if quiet > 0 and now - (self._held_since or now) < INPUT_HOLD_S:
            self._held_since = self._held_since or now
            self._flush_timer = self.set_timer(quiet, self._paced_flush)
            return
        self._held_since = None
        started = time.perf_counter()
        async with self._lock:
            drawn = await self._drain(self._pace.chars)
            if self._text is not None:
                self._text.draw()  # here rather than in the next frame: its cost is counted
            await self._trim()
        self._pace.after_batch(drawn, time.perf_counter() - started)
        if self._queued and self._flush_timer is None:
            self._flush_timer = self.set_timer(self._pace.interval, self._paced_flush)

    async def _drain(self, limit: int | None = None) -> int:
        """Write what is queued (at most `limit` characters of answer); returns how much answer."""
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None
        taken = self._queued.take(limit)
        if self._queued.backlog <= BACKLOG_CHARS:
            self._room.set()
        for kind, text in taken:
            await (self._reasoning(text) if kind == "reasoning" else self._content(text))
        return sum(len(text) for kind, text in taken if kind == "content")

    async def _reasoning(self, text: str) -> None:
        if self._thought is None:
            self._thought = thought(step=self.step, live=True)
            await self._add(self._thought)
        await self._thought.write(text)

    async def _content(self, text: str) -> None:
        if self._thought is not None and self._thought.live:
            await self._thought.finish()
        shown = self._filter.feed(text)
        if self._text is None:
            if not shown.strip():
                return  # nothing to show yet (whitespace, or a tool call's markup)
            shown = shown.lstrip()
            self._text = assistant_text(step=self.step)
            await self._add(self._text)
        await self._text.write(shown)
        if len(self._text.source) > SPLIT_CHARS and self._text.blocks.finished:
            # A long answer goes on in a new widget, from its open block: finished widgets can be
            # trimmed off the view, and a split at a block boundary never cuts a code block in two.
            rest = self._text.split_off()
            self._text.draw()  # the blocks just finished, counted with this batch (see _paced_flush)
            await self._text.finish()
            self._text = assistant_text(step=self.step, continued=True)
            await self._add(self._text)
            await self._text.write(rest)

    async def _assistant(self, event: AssistantMessage) -> None:
        tokens = int(event.usage.get("reasoning_tokens", 0)) or int(event.thinking.get("thinking_tokens", 0))
        if self._thought is not None:
            await self._thought.finish(tokens)
        elif event.reasoning.strip():  # replayed, or a backend that does not stream
            await self._add(thought(event.reasoning, step=self.step, live=False, tokens=tokens))
        if self._text is not None:
            # A split answer is left as streamed; a whole one is checked against the final text.
            await self._text.finish(None if self._text.continued else event.content.strip())
            if not event.content.strip():
                await self._text.remove()
        elif event.content.strip():
            await self._add(assistant_text(event.content.strip(), step=self.step))
        self._thought = self._text = None

    async def _end_turn(self) -> None:
        """A turn cut short (an interrupt, an error) still leaves a finished, folded view."""
        if self._thought is not None:
            await self._thought.finish()
        if self._text is not None:
            await self._text.finish()
        self._thought = self._text = None

    async def _tool_started(self, event: ToolStarted) -> None:
        if event.name == "finish":
            return  # its summary is the run's answer: shown as Markdown when it returns
        view = ToolCallView(event.name, event.arguments, call_id=event.call_id, step=self.step)
        self._tools[event.call_id] = view
        await self._add(view)

    async def _tool_finished(self, event: ToolFinished) -> None:
        view = self._tools.pop(event.call_id, None)
        if event.name == "finish" and view is None:
            if event.is_error:
                await self.notice(event.output, "warning")
            elif event.output.strip():
                await self._add(assistant_text(event.output.strip(), step=self.step))
            return
        if view is None:  # a log that starts mid-call
            view = ToolCallView(event.name, {}, call_id=event.call_id, step=self.step)
            await self._add(view)
        view.finish(event.output, is_error=event.is_error, data=event.data, seconds=event.seconds)

    async def _undone(self, event: Undone) -> None:
        await self._end_turn()
        items = self.items() if self._batch is None else self._batch
        gone = [w for w in items if getattr(w, "step", 0) >= event.step and not isinstance(w, UserPrompt)]
        if event.prompt:  # the step opened a run: its prompt goes too (the app gives it back to edit)
            prompts = [w for w in items if isinstance(w, UserPrompt) and w.step == event.step]
            gone.extend(prompts[-1:])
        if self._batch is not None:  # building logged events (their undone steps are already left out)
            dropped = {id(w) for w in gone}
            self._batch[:] = [w for w in self._batch if id(w) not in dropped]
        elif gone:
            await self.remove_children(gone)
        if self._batch is None and any(isinstance(p, Trimmed) and p.step >= event.step for p in self.earlier):
            # The step was long enough to be partly trimmed off the view: its trimmed widgets go too.
            self.earlier = [
                p
                for p in self.earlier
                if not isinstance(p, Trimmed)
                or (p.step < event.step if not p.prompt else not (event.prompt and p.step == event.step))
            ]
            await self._mount_marker()
        self.step = event.step - 1
        restored = ", ".join(event.restored_paths) if event.restored_paths else "no files changed"
        await self.notice(f"undid step {event.step} ({restored})")
