"""Agent messages as a checkpoint's chat template expects them (shared by every backend that renders the
template itself: the in-process engine and the completions path of the endpoint approximation)."""

from __future__ import annotations

import json
from typing import Any


def _tool_instructions(tools: list[dict[str, Any]]) -> str:
    lines = "\n".join(json.dumps(t.get("function", t), ensure_ascii=False) for t in tools)
    return (
        "\n\n# Tools\n\nYou may call one or more functions, whose signatures are in <tools></tools>:"
        "\n<tools>\n"
        f"{lines}\n</tools>\n\nCall a function like this:\n<tool_call>\n<function=NAME>\n"
        "<parameter=ARG>\nVALUE\n</parameter>\n</function>\n</tool_call>"
    )


def chat_messages(messages: list[dict[str, Any]], tools: list[dict[str, Any]], template: str) -> list[dict]:
    """Messages as chat templates expect them: tool-call arguments as mappings (Qwen's template iterates
    them), and the tools described in the system turn when the template itself ignores `tools`."""
    out = []
    for message in messages:
        message = dict(message)
        if message.get("tool_calls"):
            calls = []
            for call in message["tool_calls"]:
                fn = dict(call.get("function", {}))
                if isinstance(fn.get("arguments"), str):
                    try:
                        fn["arguments"] = json.loads(fn["arguments"])
                    except json.JSONDecodeError:
                        fn["arguments"] = {}
                calls.append({**call, "function": fn})
            message["tool_calls"] = calls
        out.append(message)
    if tools and "tools" not in template and out and out[0].get("role") == "system":
        out[0] = {**out[0], "content": str(out[0].get("content", "")) + _tool_instructions(tools)}
    return out
