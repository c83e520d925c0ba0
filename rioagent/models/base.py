"""The one interface the agent uses to talk to a model, whatever runs it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from rioagent.messages import ModelReply


class ModelError(Exception):
    """A model backend failed; the message says what happened and what to do."""


class ModelUnreachable(ModelError):
    """The server cannot be reached (down, wrong URL, timed out after retries). CLI exit code 3."""


class ModelNotFound(ModelError):
    """The server is up but does not serve the requested model. CLI exit code 2 (a config error)."""


@dataclass(frozen=True)
class StreamChunk:
    kind: Literal["reasoning", "content"]
    text: str


@runtime_checkable
class Model(Protocol):
    """A chat model. Messages are OpenAI chat dicts; an assistant turn may carry `reasoning_content`
    (the thought of the current tool loop, which Qwen3.5's template re-renders) and `tool_calls`."""

    name: str
    backend: str
    context_window: int

    def stream(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> AsyncIterator[StreamChunk | ModelReply]:
        """Yield StreamChunks as they arrive, then exactly one ModelReply, last."""
        ...

    def count_tokens(self, messages: list[dict[str, Any]]) -> int | None:
        """Prompt tokens of `messages` when the backend can count them locally, else None."""
        ...

    async def aclose(self) -> None: ...


async def complete(model: Model, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ModelReply:
    """Drain a stream and return its reply: for callers that don't display tokens live."""
    reply: ModelReply | None = None
    async for item in model.stream(messages, tools):
        if isinstance(item, ModelReply):
            reply = item
    if reply is None:
        raise ModelError(f"{model.backend} backend ended its stream without a reply")
    return reply
