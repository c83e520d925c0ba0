"""The agent loop: messages -> model -> tool calls -> observations, as a stream of events.

`Agent.run(task)` is an async generator. Its first event is SessionStarted and its last is always
Finished, whatever happens. Every event it emits also goes through rioagent.transcript, which is what
builds `messages`; a saved session's events rebuild the same messages for --resume.

Blocking work (tool handlers, git for checkpoints) runs in threads; nothing blocks the event loop.
Control flow for the end of a run is one exception, _Stop, caught in run().
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

from rioagent import compaction, prompts
from rioagent.approval import HEADLESS_NOTE, ApprovalDecision, judge, preview, remember_patterns
from rioagent.checkpoints import CheckpointError, Checkpoints
from rioagent.config import Settings
from rioagent.config import state_dir as default_state_dir
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
from rioagent.live_output import LIVE_OUTPUT_INTERVAL, LiveOutput
from rioagent.messages import ModelReply, ToolCall, Usage
from rioagent.models.base import Model, ModelError, StreamChunk
from rioagent.thinking import ThinkingTotals, step_figures
from rioagent.tools.base import ToolContext, ToolRegistry, ToolResult, ToolSpec, load_specs
from rioagent.transcript import Transcript, compact_messages, head_size

__all__ = ["Agent", "ApprovalDecision", "Approver"]

log = logging.getLogger(__name__)

TOOL_GRACE_SECONDS = 3.0  # after an interrupt, how long a tool gets to return its partial output
_END = object()  # closes a model stream's queue


class Approver(Protocol):
    async def __call__(self, request: ApprovalRequested) -> ApprovalDecision: ...


class _Stop(Exception):
    """Ends a run: caught by run(), which turns it into the Finished event."""

    def __init__(self, status: str, reason: str = "", summary: str = ""):
        super().__init__(reason)
        self.status, self.reason, self.summary = status, reason, summary


class Agent:
    def __init__(
        self,
        model: Model,
        settings: Settings,
        workspace: Path,
        *,
        session_id: str,
        approver: Approver | None = None,
        registry: ToolRegistry | None = None,
        history: list[Event] | None = None,
        artifacts_dir: Path | None = None,
        state_dir: Path | None = None,
    ):
        self.model = model
        self.settings = settings
        self.workspace = Path(workspace).resolve()
        self.session_id = session_id
        self.approver = approver
        self.registry = registry or ToolRegistry(load_specs())
        if "finish" not in self.registry.specs:  # the loop cannot end without it
            self.registry.specs["finish"] = load_specs(["finish"])[0]
        self.state_dir = state_dir
        artifacts = artifacts_dir or (state_dir or default_state_dir()) / "artifacts" / session_id
        self.ctx = ToolContext(
            workspace=self.workspace,
            artifacts_dir=artifacts,
            allow_outside_workspace=settings.allow_outside_workspace,
            command_timeout=settings.command_timeout,
        )
        self.system_prompt = prompts.system_prompt(self.workspace)
        self._transcript = Transcript(self.system_prompt)
        self.messages: list[dict[str, Any]] = self._transcript.messages
        self.usage = Usage()
        self.thinking = ThinkingTotals()
        self.step = 0  # session-wide step number: checkpoint refs are named by it
        self.files_touched: list[str] = []
        self.session_allow: set[str] = set()
        self.session_deny: dict[str, str] = {}  # remembered "no": pattern -> the user's note
        self.last_error: Exception | None = None
        self.checkpoints: Checkpoints | None = None
        self.meter = compaction.ContextMeter(model)
        # For /undo: (step, the message count before it, the user's message it opened with), oldest first.
        self._step_marks: list[tuple[int, int, str]] = []
        self._run_mark: tuple[int, str] | None = None
        for event in history or []:
            self._record(event)
        # Run state, reset by each run().
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_request: str | None = None  # "interrupted" | "time"
        self._stop_event: asyncio.Event | None = None
        self._queue: asyncio.Queue[Any] | None = None
        self._running_call: ToolCall | None = None
        self._lock = threading.Lock()
        self._last_commit: str | None = None
        self._run_steps = 0
        self._format_errors = 0
        self._repeat_sig: str | None = None
        self._repeats = 0
        self._started = time.monotonic()
        self._full_warned = False

    # ---- state from events (live and replayed alike) -------------------------------------------------

    def _record(self, event: Event) -> Event:
        self._mark_steps(event)
        self._transcript.apply(event)
        if isinstance(event, StepStarted):
            self.step = max(self.step, event.step)
        elif isinstance(event, AssistantMessage):
            u = event.usage
            self.usage += Usage(
                u.get("prompt_tokens", 0), u.get("completion_tokens", 0), u.get("reasoning_tokens", 0)
            )
            self.meter.observe(
                Usage(u.get("prompt_tokens", 0), u.get("completion_tokens", 0)), len(self.messages)
            )
            self.thinking.add(event.thinking)
        elif isinstance(event, ToolStarted):
            spec = self.registry.specs.get(event.name)
            if spec is not None and spec.access == "edit" and isinstance(event.arguments.get("path"), str):
                self._touch([event.arguments["path"]])
        elif isinstance(event, ToolFinished | Checkpoint):
            self._touch(event.changed_paths)
        elif isinstance(event, Compacted | Undone):
            self.meter.reset()
        return event

    def _mark_steps(self, event: Event) -> None:
        """Where each step's messages begin, before `event` changes them; a run's first step begins at the
        user's message, so undoing it takes that message back too."""
        if isinstance(event, SessionStarted):
            self._run_mark = (len(self.messages), event.task) if event.task.strip() else None
        elif isinstance(event, StepStarted):
            at, prompt = self._run_mark or (len(self.messages), "")
            self._step_marks.append((event.step, at, prompt))
            self._run_mark = None
        elif isinstance(event, Compacted):
            self._step_marks.clear()  # the indexes no longer hold: no undo past a compaction
        elif isinstance(event, Undone):
            self._step_marks = [m for m in self._step_marks if m[0] < event.step]
            self.step = event.step - 1  # the next step reuses the number; its checkpoint replaces the old

    def _touch(self, paths: list[str]) -> None:
        for path in paths:
            if path and path not in self.files_touched:
                self.files_touched.append(path)

    # ---- public --------------------------------------------------------------------------------------

    async def run(self, task: str) -> AsyncIterator[Event]:
        """Work on `task` (the first task, or the user's next message) until finish, a limit or an error."""
        self._begin()
        resumed = len(self.messages) > 1
        yield self._record(SessionStarted(
            session_id=self.session_id, task=task, workspace=str(self.workspace),
            model=self.model.name, backend=self.model.backend, resumed=resumed,
        ))  # fmt: skip
        timer = None
        if self.settings.max_seconds and self._loop is not None:
            timer = self._loop.call_later(self.settings.max_seconds, self._request_stop, "time")
        try:
            async for event in self._steps():
                yield event
            stop = _Stop("error", "the loop ended without a result")  # not reached: _steps ends by raising
        except _Stop as exc:
            stop = exc
        except ModelError as exc:
            self.last_error = exc
            stop = _Stop("error", str(exc) or type(exc).__name__)
        except Exception as exc:  # a bug: the front end still gets its Finished
            log.exception("agent loop failed")
            self.last_error = exc
            stop = _Stop("error", f"internal error: {type(exc).__name__}: {exc}")
        finally:
            if timer is not None:
                timer.cancel()
        patch = ""
        if self.checkpoints is not None:
            try:
                patch = await asyncio.to_thread(self.checkpoints.patch)
            except CheckpointError as exc:
                yield Notice(level="warning", message=f"could not compute the task's patch: {exc}")
        yield self._record(Finished(
            status=stop.status, reason=stop.reason, summary=stop.summary, patch=patch, steps=self._run_steps,
            usage=self.usage.to_dict(), seconds=round(time.monotonic() - self._started, 3),
            session_id=self.session_id, thinking=self.thinking.to_dict(),
        ))  # fmt: skip

    async def compact(self) -> AsyncIterator[Event]:
        """Compact the conversation now (the /compact command), whatever its size."""
        self._begin()
        async for event in self._maybe_compact(force=True):
            yield event

    def interrupt(self) -> None:
        """Stop the current run from any thread: the model stream or running command is cut short and
        the run ends with Finished(status="interrupted"); `messages` stay valid for the next run()."""
        self._request_stop("interrupted")

    async def undo(self) -> AsyncIterator[Event]:
        """Take back the last step (/undo): its file changes, through the checkpoints, and its messages.
        Yields Undone, or a Notice saying why nothing was undone. Not while a run is going."""
        if not self._step_marks:
            yield Notice(level="warning", message="nothing to undo since the start or the last /compact")
            return
        step, kept, prompt = self._step_marks[-1]
        notice = await self._start_checkpoints()
        if notice is not None or self.checkpoints is None:
            why = notice.message if notice is not None else "no checkpoints"
            yield Notice(level="warning", message=f"nothing undone: {why}")
            return
        cp = self.checkpoints
        try:
            steps = await asyncio.to_thread(cp.steps)
            earlier = [(s, c) for s, c in steps if s < step]
            paths: list[str] = []
            # Only a step that changed files has a checkpoint of its own; restoring for any other step
            # would throw away edits the user made by hand since.
            if any(s == step for s, _ in steps):
                paths = await asyncio.to_thread(cp.restore, earlier[-1][0] if earlier else "base")
            self._last_commit = earlier[-1][1] if earlier else await asyncio.to_thread(cp.start)
        except CheckpointError as exc:
            yield Notice(level="warning", message=f"nothing undone: {exc}")
            return
        yield self._record(Undone(step=step, messages_kept=kept, restored_paths=paths, prompt=prompt))

    def close(self) -> None:
        """Close the tools' session state (the shell)."""
        self.ctx.close()

    # ---- stopping ------------------------------------------------------------------------------------

    def _begin(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_request = None
        self._stop_event = asyncio.Event()
        self._run_steps = 0
        self._format_errors = 0
        self._repeat_sig, self._repeats = None, 0
        self._started = time.monotonic()
        self.last_error = None

    def _request_stop(self, kind: str) -> None:
        with self._lock:
            if self._stop_request is None:
                self._stop_request = kind
            call = self._running_call
        if call is not None:
            self._interrupt_shell(call)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop stopped meanwhile: nothing to wake
                loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        if self._stop_event is not None:
            self._stop_event.set()
        if self._queue is not None:
            self._queue.put_nowait(_END)

    def _interrupt_shell(self, call: ToolCall) -> None:
        spec = self.registry.specs.get(call.name)
        shell = self.ctx.state.get("shell")
        if spec is not None and spec.access == "exec" and hasattr(shell, "interrupt"):
            try:
                shell.interrupt()
            except Exception:  # stopping is best effort; the grace period covers the rest
                log.exception("shell interrupt failed")

    def _stopped(self) -> _Stop:
        if self._stop_request == "time":
            return _Stop("limit", f"time limit ({self.settings.max_seconds:g}s) reached")
        return _Stop("interrupted", "interrupted by the user")

    async def _race(self, fut: asyncio.Future[Any]) -> bool:
        """Wait for `fut` or a stop request, whichever comes first; True when `fut` is done."""
        assert self._stop_event is not None
        if not self._stop_event.is_set():
            stopper = asyncio.ensure_future(self._stop_event.wait())
            try:
                await asyncio.wait({fut, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopper.cancel()
        return fut.done()

    def _check_limits(self) -> None:
        s = self.settings
        if self._stop_request:
            raise self._stopped()
        if s.max_steps and self._run_steps >= s.max_steps:
            raise _Stop("limit", f"step limit ({s.max_steps}) reached")
        if s.max_tokens and self.usage.total_tokens >= s.max_tokens:
            raise _Stop(
                "limit", f"token limit ({s.max_tokens}) reached: {self.usage.total_tokens} tokens used"
            )
        if s.max_seconds and time.monotonic() - self._started >= s.max_seconds:
            raise _Stop("limit", f"time limit ({s.max_seconds:g}s) reached")

    # ---- the loop ------------------------------------------------------------------------------------

    async def _steps(self) -> AsyncIterator[Event]:
        notice = await self._start_checkpoints()
        if notice is not None:
            yield notice
        while True:
            self._check_limits()
            async for event in self._maybe_compact():
                yield event
            if self._stop_request:
                raise self._stopped()
            self.step += 1
            self._run_steps += 1
            yield self._record(StepStarted(step=self.step))
            reply: ModelReply | None = None
            context_tokens = self.meter.count(self.messages)
            async for item in self._stream():
                if isinstance(item, ModelReply):
                    reply = item
                else:
                    yield item
            assert reply is not None
            async for event in self._handle_reply(reply, context_tokens):
                yield event

    async def _stream(self) -> AsyncIterator[Event | ModelReply]:
        """The model's reply, streamed: deltas as events, then the ModelReply itself."""
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._queue = queue
        pump = asyncio.create_task(self._pump(queue, list(self.messages), self.registry.openai_tools()))
        reply: ModelReply | None = None
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, StreamChunk):
                    yield (
                        ReasoningDelta(text=item.text)
                        if item.kind == "reasoning"
                        else ContentDelta(text=item.text)
                    )
                elif isinstance(item, ModelReply):
                    reply = item
        finally:
            self._queue = None
            if not pump.done():
                pump.cancel()
                await asyncio.wait({pump}, timeout=2)
        if self._stop_request:
            raise self._stopped()
        if reply is None:
            raise ModelError(f"the {self.model.backend} backend ended its stream without a reply")
        yield reply

    async def _pump(
        self, queue: asyncio.Queue[Any], messages: list[dict[str, Any]], tools: list[Any]
    ) -> None:
        stream = self.model.stream(messages, tools)
        try:
            async for item in stream:
                queue.put_nowait(item)
        except Exception as exc:
            queue.put_nowait(exc)
        finally:
            queue.put_nowait(_END)
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    def _extract_calls(self, reply: ModelReply) -> tuple[list[ToolCall], str, str | None]:
        """(calls, the text outside them, the parse error if any)."""
        from rioagent.toolcalls import ToolCallParseError, parse_tool_calls

        if reply.tool_calls:
            calls, text = list(reply.tool_calls), reply.content
        else:
            try:
                parsed = parse_tool_calls(reply.content, self.registry.schemas())
            except ToolCallParseError as exc:
                return [], reply.content, str(exc)
            calls, text = parsed.calls, parsed.text
        calls = [
            c if c.id else dataclasses.replace(c, id=f"call_{self.step}_{i}") for i, c in enumerate(calls)
        ]
        return calls, text, None

    def _thinking_figures(self, reply: ModelReply) -> dict[str, Any]:
        """For backends that report no figures of their own: the thought's size from the usage."""
        mode = "off" if self.settings.think == "off" else "on"
        return step_figures(mode, reply.usage.reasoning_tokens)

    async def _handle_reply(self, reply: ModelReply, context_tokens: int) -> AsyncIterator[Event]:
        calls, text, error = self._extract_calls(reply)
        yield self._record(AssistantMessage(
            step=self.step, content=text, reasoning=reply.reasoning,
            tool_calls=[c.to_openai() for c in calls], usage=reply.usage.to_dict(),
            context_tokens=reply.usage.prompt_tokens or context_tokens,
            thinking=reply.thinking or self._thinking_figures(reply),
        ))  # fmt: skip
        if calls:
            self._format_errors = 0
            async for event in self._run_calls(calls):
                yield event
            return
        self._format_errors += 1
        cut_off = reply.finish_reason == "length"
        limit = self.settings.max_format_errors
        if error is not None:
            if limit and self._format_errors >= limit:
                raise _Stop(
                    "error", f"{self._format_errors} malformed tool calls in a row; the last: {error}"
                )
            yield self._record(
                UserMessage(content=prompts.correction("format_error", error=error, cut_off=cut_off))
            )
        else:
            if limit and self._format_errors >= limit:
                raise _Stop("error", f"{self._format_errors} replies in a row without a tool call")
            yield self._record(UserMessage(content=prompts.correction("no_tool_call", cut_off=cut_off)))

    # ---- tool calls ----------------------------------------------------------------------------------

    async def _run_calls(self, calls: list[ToolCall]) -> AsyncIterator[Event]:
        changed = False
        stop: _Stop | None = None
        summary: str | None = None
        for call in calls:
            spec = self.registry.specs.get(call.name)
            skip = None
            if summary is not None:
                skip = "finish ended the task before it"
            elif stop is not None or self._stop_request:
                skip = "the run was stopped before it"
            else:
                sig = json.dumps([call.name, call.arguments], sort_keys=True, default=str)
                self._repeats = self._repeats + 1 if sig == self._repeat_sig else 1
                self._repeat_sig = sig
                if self.settings.max_repeats and self._repeats > self.settings.max_repeats:
                    stop = _Stop("limit", "repeated the same call")
                    skip = f"the same call came {self._repeats} times in a row; the run stops here"
            yield self._record(
                ToolStarted(step=self.step, call_id=call.id, name=call.name, arguments=call.arguments)
            )
            started = time.monotonic()
            if skip is not None:
                result = ToolResult(prompts.correction("not_run", name=call.name, reason=skip), is_error=True)
            else:
                result = None
                if spec is not None and self._arguments_complete(spec, call):
                    async for item in self._approve(spec, call):
                        if isinstance(item, ToolResult):
                            result = item
                        else:
                            yield item
                if result is None:
                    async for item in self._execute_live(call):
                        if isinstance(item, ToolResult):
                            result = item
                        else:
                            yield item
                assert result is not None
                if call.name == "finish" and not result.is_error:
                    summary = result.output
                if self._repeats == self.settings.max_repeats:
                    result.output += "\n\n" + prompts.correction("repeat_warning", count=self._repeats)
                if spec is not None and (
                    spec.access == "exec" or (spec.access == "edit" and result.changed_paths)
                ):
                    changed = True
            yield self._record(ToolFinished(
                step=self.step, call_id=call.id, name=call.name, output=result.output,
                is_error=result.is_error, changed_paths=list(result.changed_paths), data=dict(result.data),
                seconds=round(time.monotonic() - started, 3),
            ))  # fmt: skip
        if changed:
            event = await self._checkpoint()
            if event is not None:
                yield event
        if summary is not None:
            raise _Stop("done", "", summary)
        if stop is not None:
            raise stop
        if self._stop_request:
            raise self._stopped()

    @staticmethod
    def _arguments_complete(spec: ToolSpec, call: ToolCall) -> bool:
        """Only a call that can run is worth asking about; the registry explains what is missing."""
        return all(p in call.arguments for p in spec.parameters.get("required", []))

    async def _approve(self, spec: ToolSpec, call: ToolCall) -> AsyncIterator[Event | ToolResult]:
        """Events of the approval, then a ToolResult when the call must not run (nothing when it may)."""
        verdict = judge(spec, call.arguments, self.settings, self.workspace, self.session_allow)
        if verdict.action == "allow":
            return
        if verdict.action == "deny":
            yield self._denied(call, verdict.reason)
            return
        patterns = remember_patterns(spec, call.arguments)
        remembered = next((p for p in patterns if p in self.session_deny), None)
        if remembered is not None:
            yield self._denied(
                call,
                "the user refused this kind of call earlier in the session",
                self.session_deny[remembered],
            )
            return
        request = ApprovalRequested(
            step=self.step, call_id=call.id, name=call.name, arguments=call.arguments,
            preview=preview(spec, call.arguments, self.workspace), reason=verdict.reason,
        )  # fmt: skip
        yield self._record(request)
        if self.approver is None:
            decision = ApprovalDecision(False, HEADLESS_NOTE)
        else:
            asked = asyncio.ensure_future(self.approver(request))
            if not await self._race(asked):
                asked.cancel()
                yield self._record(ApprovalResolved(call_id=call.id, allowed=False, note="interrupted"))
                yield ToolResult(
                    prompts.correction("not_run", name=call.name, reason="the run was stopped"), True
                )
                return
            try:
                decision = asked.result()
            except Exception as exc:  # a broken front end must not end the run
                log.exception("approver failed")
                decision = ApprovalDecision(False, f"the approval prompt failed: {exc}")
        yield self._record(ApprovalResolved(
            call_id=call.id, allowed=decision.allowed, note=decision.note, remember=decision.remember
        ))  # fmt: skip
        if decision.remember:
            for pattern in patterns:
                if decision.allowed:
                    self.session_allow.add(pattern)
                else:
                    self.session_deny[pattern] = decision.note
        if not decision.allowed:
            who = "the user denied it" if self.approver is not None else "it needs the user's approval"
            yield self._denied(call, who, decision.note)

    @staticmethod
    def _denied(call: ToolCall, reason: str, note: str = "") -> ToolResult:
        return ToolResult(
            prompts.correction("denied", name=call.name, reason=reason, note=note), is_error=True
        )

    def _invoke(self, call: ToolCall) -> ToolResult:
        """Runs in a worker thread."""
        try:
            return self.registry.run(self.ctx, call)
        except Exception as exc:  # a handler bug: the model is told, the run goes on
            log.exception("tool %s failed", call.name)
            return ToolResult(f"{call.name} failed with an internal error: {type(exc).__name__}: {exc}", True)

    async def _execute_live(self, call: ToolCall) -> AsyncIterator[ToolOutputDelta | ToolResult]:
        """Run the call, yielding its output in batches while it runs (tools that stream it: bash), then
        its result."""
        live = LiveOutput()
        self.ctx.on_output = live
        running = asyncio.ensure_future(self._execute(call))
        try:
            while not running.done():
                await asyncio.wait({running}, timeout=LIVE_OUTPUT_INTERVAL)
                text = live.take()
                if text:
                    yield ToolOutputDelta(call_id=call.id, text=text)
        finally:
            self.ctx.on_output = None
            if not running.done():  # the consumer went away mid-call: the stop path still runs
                running.cancel()
        yield running.result()

    async def _execute(self, call: ToolCall) -> ToolResult:
        fut = asyncio.ensure_future(asyncio.to_thread(self._invoke, call))
        with self._lock:
            self._running_call = call
        try:
            if not await self._race(fut):
                self._interrupt_shell(call)  # the stop may have come just before the call started
                await asyncio.wait({fut}, timeout=TOOL_GRACE_SECONDS)
        finally:
            with self._lock:
                self._running_call = None
        if fut.done():
            return fut.result()
        return ToolResult(f"{call.name} was stopped and had not returned; it may still be finishing", True)

    # ---- checkpoints ---------------------------------------------------------------------------------

    async def _start_checkpoints(self) -> Notice | None:
        try:
            if self.checkpoints is None:
                self.checkpoints = Checkpoints(self.workspace, self.session_id, self.state_dir)
            base = await asyncio.to_thread(self.checkpoints.start)
            steps = await asyncio.to_thread(self.checkpoints.steps)
            # Steps past self.step were undone: their refs linger until the step number is reused.
            self._last_commit = next((c for s, c in reversed(steps) if s <= self.step), base)
        except CheckpointError as exc:
            self.checkpoints = None
            return Notice(
                level="warning", message=f"checkpoints are off for this run (no undo, no patch): {exc}"
            )
        return None

    async def _checkpoint(self) -> Event | None:
        cp = self.checkpoints
        if cp is None:
            return None
        try:
            commit = await asyncio.to_thread(cp.snapshot, self.step)
            if commit is None:
                return None
            paths = await asyncio.to_thread(cp.changed_paths, self._last_commit)
        except CheckpointError as exc:
            return Notice(level="warning", message=f"could not checkpoint step {self.step}: {exc}")
        self._last_commit = commit
        return self._record(
            Checkpoint(step=self.step, ref=cp.ref(self.step), commit=commit, changed_paths=paths)
        )

    # ---- context -------------------------------------------------------------------------------------

    async def _maybe_compact(self, force: bool = False) -> AsyncIterator[Event]:
        window = getattr(self.model, "context_window", 0) or 0
        tokens = self.meter.count(self.messages)
        if not force and (not window or tokens < self.settings.compact_at * window):
            return
        keep = self.settings.keep_recent_messages
        head = head_size(self.messages)
        end = compaction.split_point(self.messages, keep)
        if end <= head:
            if self._full_warned:
                return
            self._full_warned = True
            yield Notice(level="warning", message=(
                f"the conversation is at {tokens} tokens and nothing older than the last {keep} messages "
                "is left to compact"
            ))  # fmt: skip
            return
        task = self.messages[1]["content"] if head == 2 else ""
        summarising = asyncio.ensure_future(compaction.summarise(self.model, task, self.messages[head:end]))
        if not await self._race(summarising):
            summarising.cancel()
            raise self._stopped()
        try:
            summary, usage = summarising.result()
        except (ModelError, ValueError) as exc:
            async for event in self._elide(tokens, keep, exc):
                yield event
            return
        self.usage += usage
        text = compaction.summary_message(summary, self.files_touched)
        after = compaction.estimate_tokens(compact_messages(self.messages, text, end - head))
        yield self._record(
            Compacted(summary=text, tokens_before=tokens, tokens_after=after, messages_removed=end - head)
        )

    async def _elide(self, tokens: int, keep: int, exc: Exception) -> AsyncIterator[Event]:
        window = getattr(self.model, "context_window", 0) or 0
        target = int(self.settings.compact_at * window * 0.7)
        n = compaction.elide_count(self.messages, keep, target)
        yield Notice(level="warning", message=(
            f"could not summarise the conversation ({exc}); eliding the oldest {n} tool outputs instead"
        ))  # fmt: skip
        if n:
            after = compaction.estimate_tokens(compact_messages(self.messages, "", n))
            yield self._record(
                Compacted(summary="", tokens_before=tokens, tokens_after=after, messages_removed=n)
            )
