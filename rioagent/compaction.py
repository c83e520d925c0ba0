"""Context management: count the conversation's tokens and, near the model's limit, condense it.

Compaction keeps the system prompt, the first task and the last `keep` messages (never splitting an
assistant's tool calls from their results); everything between is summarised by the model itself, with
prompts/compact.j2, into one user message. The list of files touched comes from the agent's own
records, not from the model. When the summary call fails, the fallback elides the bodies of the oldest
tool outputs instead. Both become a Compacted event, which rioagent.transcript applies.
"""

from __future__ import annotations

import json
from typing import Any

from rioagent.messages import Usage
from rioagent.models.base import Model, ModelError, complete
from rioagent.prompts import correction, render
from rioagent.transcript import ELIDED, compact_messages, head_size

CHARS_PER_TOKEN = 4
_MESSAGE_OVERHEAD = 4  # role markers and separators the chat template adds around each message


def message_chars(msg: dict[str, Any]) -> int:
    size = len(str(msg.get("content") or "")) + len(str(msg.get("reasoning_content") or ""))
    if msg.get("tool_calls"):
        size += len(json.dumps(msg["tool_calls"], ensure_ascii=False))
    return size


def estimate_tokens(messages: list[dict[str, Any]]) -> int:
    """A rough count (about 4 characters a token) for when the backend cannot count."""
    return sum(message_chars(m) // CHARS_PER_TOKEN + _MESSAGE_OVERHEAD for m in messages)


class ContextMeter:
    """How many tokens the conversation takes: the backend's own count when it has one; else the last
    reply's prompt + completion tokens plus an estimate of the messages added since."""

    def __init__(self, model: Model):
        self.model = model
        self._base_tokens = 0
        self._base_len = 0

    def observe(self, usage: Usage, n_messages: int) -> None:
        """After a reply: the first `n_messages` messages (its own included) came to these tokens."""
        if usage.prompt_tokens:
            self._base_tokens = usage.prompt_tokens + usage.completion_tokens
            self._base_len = n_messages

    def reset(self) -> None:
        """The messages changed under us (compaction): estimate from scratch until the next reply."""
        self._base_tokens = self._base_len = 0

    def count(self, messages: list[dict[str, Any]]) -> int:
        counter = getattr(self.model, "count_tokens", None)
        if callable(counter):
            try:
                counted = counter(messages)
            except Exception:  # a counting failure must not stop the run; the estimate will do
                counted = None
            if isinstance(counted, int):
                return counted
        if self._base_tokens and self._base_len <= len(messages):
            return self._base_tokens + estimate_tokens(messages[self._base_len :])
        return estimate_tokens(messages)


def split_point(messages: list[dict[str, Any]], keep: int) -> int:
    """Index where the kept recent messages start; never on a tool result, whose call must stay with it."""
    head = head_size(messages)
    start = max(head, len(messages) - keep)
    while start > head and messages[start].get("role") == "tool":
        start -= 1
    return start


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = max(limit // 2, 1)
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters cut ...]\n{text[-half:]}"


def render_transcript(messages: list[dict[str, Any]], budget_chars: int) -> str:
    """The messages to summarise as plain text, each clipped so the whole fits in `budget_chars`."""
    per_message = max(300, budget_chars // max(len(messages), 1))
    rows = []
    for msg in messages:
        role = msg.get("role", "?")
        body = _clip(str(msg.get("content") or ""), per_message)
        for call in msg.get("tool_calls") or []:
            fn = call.get("function", {})
            body += f"\n-> {fn.get('name')}({_clip(str(fn.get('arguments', '')), per_message // 2)})"
        label = "tool result" if role == "tool" else role
        rows.append(f"[{label}]\n{body.strip()}")
    return "\n\n".join(rows)


async def summarise(model: Model, task: str, messages: list[dict[str, Any]]) -> tuple[str, Usage]:
    """Ask the model for a summary of `messages`; raises ModelError when it gives none."""
    budget = max(model.context_window // 2, 1000) * CHARS_PER_TOKEN
    prompt = render("compact.j2", task=task, transcript=render_transcript(messages, budget))
    reply = await complete(model, [{"role": "user", "content": prompt}], [])
    summary = reply.content.strip()
    if "<tool_call>" in summary:
        summary = summary.split("<tool_call>", 1)[0].strip()
    if not summary:
        raise ModelError("the model returned an empty summary")
    return summary, reply.usage


def summary_message(summary: str, files: list[str]) -> str:
    return correction("summary", summary=summary, files=files)


def elide_count(messages: list[dict[str, Any]], keep: int, target: int) -> int:
    """How many of the oldest tool outputs (outside the recent ones) to elide to get under `target` tokens."""
    end = split_point(messages, keep)
    candidates = sum(
        1
        for m in messages[head_size(messages) : end]
        if m.get("role") == "tool" and m.get("content") != ELIDED
    )
    for n in range(1, candidates + 1):
        if estimate_tokens(compact_messages(messages, "", n)) <= target:
            return n
    return candidates
