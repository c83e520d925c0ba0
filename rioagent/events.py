"""The events every front end consumes: the TUI, the JSONL writer, the eval runner and the session log.

Data walks one way: front end -> Agent.run(task) -> these events -> front end. Each event is a small
dataclass with a `type` tag; `to_dict()` is what goes on the wire (stream-json) and into session logs,
and `event_from_dict()` reads it back for replay and resume.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass
class Event:
    type: ClassVar[str] = "event"
    ts: float = field(default_factory=time.time, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **dataclasses.asdict(self)}


@dataclass
class SessionStarted(Event):
    type: ClassVar[str] = "session_started"
    session_id: str
    task: str
    workspace: str
    model: str
    backend: str
    resumed: bool = False


@dataclass
class StepStarted(Event):
    type: ClassVar[str] = "step_started"
    step: int


@dataclass
class ReasoningDelta(Event):
    """A streamed piece of the model's thought (not logged: AssistantMessage carries the whole)."""

    type: ClassVar[str] = "reasoning_delta"
    text: str


@dataclass
class ContentDelta(Event):
    type: ClassVar[str] = "content_delta"
    text: str


@dataclass
class ToolOutputDelta(Event):
    """Output of a running tool as it arrives, for live display (not logged: ToolFinished carries the
    output the model sees)."""

    type: ClassVar[str] = "tool_output_delta"
    call_id: str
    text: str


@dataclass
class AssistantMessage(Event):
    """One finished model turn. `usage` is this step's; `context_tokens` is the prompt size the model saw."""

    type: ClassVar[str] = "assistant_message"
    step: int
    content: str
    reasoning: str
    tool_calls: list[dict[str, Any]]
    usage: dict[str, int]
    context_tokens: int = 0
    thinking: dict[str, Any] = field(default_factory=dict)  # rioagent.thinking.step_figures


@dataclass
class ToolStarted(Event):
    type: ClassVar[str] = "tool_started"
    step: int
    call_id: str
    name: str
    arguments: dict[str, Any]


@dataclass
class ToolFinished(Event):
    type: ClassVar[str] = "tool_finished"
    step: int
    call_id: str
    name: str
    output: str
    is_error: bool = False
    changed_paths: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class ApprovalRequested(Event):
    """The agent waits for the front end's Approver; `preview` shows exactly what would run or change."""

    type: ClassVar[str] = "approval_requested"
    step: int
    call_id: str
    name: str
    arguments: dict[str, Any]
    preview: str
    reason: str


@dataclass
class ApprovalResolved(Event):
    type: ClassVar[str] = "approval_resolved"
    call_id: str
    allowed: bool
    note: str = ""
    remember: bool = False


@dataclass
class Notice(Event):
    """Something the user should see that is not a tool result: a correction sent, a retry, a warning."""

    type: ClassVar[str] = "notice"
    level: str  # "info" | "warning" | "error"
    message: str


@dataclass
class Checkpoint(Event):
    type: ClassVar[str] = "checkpoint"
    step: int
    ref: str
    commit: str
    changed_paths: list[str] = field(default_factory=list)


@dataclass
class Compacted(Event):
    type: ClassVar[str] = "compacted"
    summary: str
    tokens_before: int
    tokens_after: int
    messages_removed: int


@dataclass
class Undone(Event):
    """The last step taken back (/undo): files restored to the checkpoint before it and the conversation
    cut back to its first `messages_kept` messages. `prompt` is the user's message removed with it, when
    the step was the first of a run."""

    type: ClassVar[str] = "undone"
    step: int
    messages_kept: int
    restored_paths: list[str] = field(default_factory=list)
    prompt: str = ""


@dataclass
class UserMessage(Event):
    type: ClassVar[str] = "user_message"
    content: str


@dataclass
class Finished(Event):
    """Always the last event of a run. status: "done" | "limit" | "error" | "interrupted"."""

    type: ClassVar[str] = "result"
    status: str
    reason: str
    summary: str
    patch: str
    steps: int
    usage: dict[str, int]
    seconds: float
    session_id: str = ""
    thinking: dict[str, int] = field(default_factory=dict)  # the session's totals (rioagent.thinking)


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        SessionStarted,
        StepStarted,
        ReasoningDelta,
        ContentDelta,
        ToolOutputDelta,
        AssistantMessage,
        ToolStarted,
        ToolFinished,
        ApprovalRequested,
        ApprovalResolved,
        Notice,
        Checkpoint,
        Compacted,
        Undone,
        UserMessage,
        Finished,
    )
}

# Streaming deltas are for live display; the finished message holds the same text.
TRANSIENT_EVENTS = (ReasoningDelta, ContentDelta, ToolOutputDelta)


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event written by `Event.to_dict()`; unknown keys are ignored so old logs stay readable."""
    cls = EVENT_TYPES.get(data.get("type", ""))
    if cls is None:
        raise ValueError(f"unknown event type {data.get('type')!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
