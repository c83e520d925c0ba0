"""The one place that turns events into chat messages.

The live agent feeds every event it emits through a Transcript, and `--resume` feeds a saved session's
events through the same code, so the rebuilt conversation is the live one by construction:

- SessionStarted      -> the run's task as a user message (prompts/task.j2); an empty task adds nothing
- UserMessage         -> a user message (follow-ups, and the corrections and nudges the agent sends)
                         (before a user message, calls left without a result by a crash get NO_RESULT)
- AssistantMessage    -> an assistant message: content (text outside the calls), reasoning_content, tool_calls
- ToolFinished        -> a tool message answering one call
- Compacted           -> with a summary: messages[head : head + messages_removed] become one user message
                         holding the summary text; with an empty summary (the fallback when summarising
                         failed): the bodies of the oldest `messages_removed` tool outputs become ELIDED
- Undone              -> the conversation is cut back to its first `messages_kept` messages (/undo)

`head` is the system prompt plus the first task message: compaction never removes those.
"""

from __future__ import annotations

import copy
from typing import Any

from rioagent.events import (
    AssistantMessage,
    Compacted,
    Event,
    SessionStarted,
    ToolFinished,
    Undone,
    UserMessage,
)
from rioagent.prompts import task_message

ELIDED = "[output elided]"
NO_RESULT = "[no result: the session stopped before this call finished]"


def head_size(messages: list[dict[str, Any]]) -> int:
    """How many leading messages compaction keeps: the system prompt and the first task."""
    return 2 if len(messages) > 1 and messages[1].get("role") == "user" else 1


def compact_messages(messages: list[dict[str, Any]], summary: str, removed: int) -> list[dict[str, Any]]:
    """The conversation after a Compacted event (a new list; the input is not changed)."""
    head = head_size(messages)
    if summary:
        return [*messages[:head], {"role": "user", "content": summary}, *messages[head + removed :]]
    out = [dict(m) for m in messages]
    left = removed
    for msg in out[head:]:
        if left <= 0:
            break
        if msg.get("role") == "tool" and msg.get("content") != ELIDED:
            msg["content"] = ELIDED
            left -= 1
    return out


class Transcript:
    """Chat messages built from events, one event at a time."""

    def __init__(self, system_prompt: str):
        self.messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt}]

    def apply(self, event: Event) -> None:
        if isinstance(event, SessionStarted):
            if event.task.strip():
                self._add_user(task_message(event.task))
        elif isinstance(event, UserMessage):
            self._add_user(event.content)
        elif isinstance(event, AssistantMessage):
            msg: dict[str, Any] = {"role": "assistant", "content": event.content}
            if event.reasoning:
                msg["reasoning_content"] = event.reasoning
            if event.tool_calls:
                msg["tool_calls"] = copy.deepcopy(event.tool_calls)
            self.messages.append(msg)
        elif isinstance(event, ToolFinished):
            self.messages.append({"role": "tool", "tool_call_id": event.call_id, "content": event.output})
        elif isinstance(event, Compacted):
            # In place: the agent hands this same list to the model and to its callers.
            self.messages[:] = compact_messages(self.messages, event.summary, event.messages_removed)
        elif isinstance(event, Undone):
            del self.messages[event.messages_kept :]

    def _add_user(self, content: str) -> None:
        self._answer_dangling_calls()
        self.messages.append({"role": "user", "content": content})

    def _answer_dangling_calls(self) -> None:
        """A log cut off mid-step (a crash, a kill) leaves calls without results, which servers reject:
        answer them before the conversation goes on. Live and rebuilt sessions do this alike."""
        last = len(self.messages) - 1
        while last > 0 and self.messages[last].get("role") == "tool":
            last -= 1
        calls = (
            self.messages[last].get("tool_calls") or []
            if self.messages[last].get("role") == "assistant"
            else []
        )
        answered = {m.get("tool_call_id") for m in self.messages[last + 1 :]}
        for call in calls:
            if call.get("id") not in answered:
                self.messages.append({"role": "tool", "tool_call_id": call.get("id"), "content": NO_RESULT})


def messages_from_events(events: list[Event], system_prompt: str) -> list[dict[str, Any]]:
    """Rebuild the conversation of a saved session (for --resume)."""
    transcript = Transcript(system_prompt)
    for event in events:
        transcript.apply(event)
    return transcript.messages
