"""ScriptedModel: a test double for the Model protocol. It replays scripted replies and records what it was
sent, so agent tests run the real loop, real tools and real files without a language model."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

from rioagent.messages import ModelReply, Usage
from rioagent.models.base import StreamChunk

# A scripted turn: a reply, Qwen XML content as a string, a function of (messages, tools) returning one
# of those, or an exception to raise instead of replying.
Turn = ModelReply | str | BaseException | Callable[[list[dict[str, Any]], list[dict[str, Any]]], Any]


def xml_call(name: str, **arguments: Any) -> str:
    """One tool call in the Qwen3.5 XML the chat template teaches the model."""
    params = "".join(f"<parameter={key}>\n{value}\n</parameter>\n" for key, value in arguments.items())
    return f"<tool_call>\n<function={name}>\n{params}</function>\n</tool_call>"


def reply(*calls: str, text: str = "", reasoning: str = "") -> ModelReply:
    """A turn with optional prose before its calls and a thought."""
    content = "\n".join([text, *calls]).strip()
    return ModelReply(content=content, reasoning=reasoning)


def chars_to_tokens(messages: list[dict[str, Any]]) -> int:
    text = "".join(str(m.get("content") or "") + str(m.get("reasoning_content") or "") for m in messages)
    return len(text) // 4


class ScriptedModel:
    """Replays `turns` in order for calls that offer tools; calls without tools (the compaction summary)
    take their turns from `summaries`. Every call is recorded in `calls` as {"messages", "tools"}.

    Usage is reported like a server would: prompt tokens ~ characters / 4 of the messages. `fail_at`
    maps a call index to an exception raised instead of replying; `chunk_delay` slows the stream (for
    interrupt tests); `counter`, when given, is what count_tokens returns.
    """

    def __init__(
        self,
        turns: list[Turn],
        *,
        summaries: list[Turn] | None = None,
        context_window: int = 32768,
        fail_at: dict[int, BaseException] | None = None,
        chunk_delay: float = 0.0,
        counter: Callable[[list[dict[str, Any]]], int | None] | None = None,
        name: str = "scripted",
    ):
        self.name = name
        self.backend = "scripted"
        self.context_window = context_window
        self.turns = list(turns)
        self.summaries = list(summaries or [])
        self.fail_at = dict(fail_at or {})
        self.chunk_delay = chunk_delay
        self.counter = counter
        self.calls: list[dict[str, Any]] = []
        self.closed = False

    @property
    def agent_calls(self) -> list[dict[str, Any]]:
        """The calls made by the loop (with tools), not the summary calls."""
        return [c for c in self.calls if c["tools"]]

    def _next(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ModelReply:
        index = len(self.calls) - 1
        if index in self.fail_at:
            raise self.fail_at[index]
        queue = self.turns if tools else self.summaries
        if not queue:
            which = "turns" if tools else "summaries"
            raise AssertionError(f"ScriptedModel ran out of {which} at call {index}")
        turn = queue.pop(0)
        if callable(turn) and not isinstance(turn, BaseException | ModelReply):
            turn = turn(messages, tools)
        if isinstance(turn, BaseException):
            raise turn
        return turn if isinstance(turn, ModelReply) else ModelReply(content=turn)

    async def stream(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> AsyncIterator[StreamChunk | ModelReply]:
        self.calls.append({"messages": copy.deepcopy(messages), "tools": copy.deepcopy(tools)})
        out = self._next(messages, tools)
        for kind, text in (("reasoning", out.reasoning), ("content", out.content)):
            for start in range(0, len(text), 16):
                if self.chunk_delay:
                    await asyncio.sleep(self.chunk_delay)
                yield StreamChunk(kind, text[start : start + 16])  # type: ignore[arg-type]
        if out.usage.prompt_tokens == 0:
            usage = Usage(
                prompt_tokens=max(chars_to_tokens(messages), 1),
                completion_tokens=(len(out.content) + len(out.reasoning)) // 4 + 1,
                reasoning_tokens=len(out.reasoning) // 4,
            )
            out = dataclasses.replace(out, usage=usage)
        yield out

    def count_tokens(self, messages: list[dict[str, Any]]) -> int | None:
        return self.counter(messages) if self.counter else None

    async def aclose(self) -> None:
        self.closed = True
