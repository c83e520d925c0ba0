"""A GGUF's own chat template, rendered here rather than by the server.

SwiReasoning's endpoint approximation resumes a cut thought by continuing the assistant turn. llama.cpp's
server cannot continue a chat message, so for the demo backend both legs go to /v1/completions with the
prompt rendered from the template the GGUF carries, with llama-cpp-python's own Jinja formatter: the
same rendering its server gives the chat path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rioagent.models.base import ModelError
from rioagent.models.chat_messages import chat_messages
from rioagent.reasoning.endpoint_swi import RenderPrompt

THINK_OPEN = "<think>\n"


def gguf_prompt_renderer(gguf: Path, *, thinking: bool) -> RenderPrompt:
    """A prompt renderer for `gguf`'s chat template. With thinking on and a template that knows thoughts,
    the prompt ends inside an open one, as Qwen3.5's leaves it; a template without (SmolLM2's) opens none,
    as the in-process engine does for the same checkpoint."""
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    vocab = Llama(str(gguf), vocab_only=True, verbose=False)  # the metadata and tokens, not the weights
    template = vocab.metadata.get("tokenizer.chat_template")
    if not template:
        raise ModelError(f"{gguf.name} carries no chat template; --think auto needs one to resume a thought")

    def token_text(token: int) -> str:
        return vocab.detokenize([token], special=True).decode("utf-8", "replace") if token >= 0 else ""

    formatter = Jinja2ChatFormatter(
        template=template,
        eos_token=token_text(vocab.token_eos()),
        bos_token=token_text(vocab.token_bos()),
        add_generation_prompt=True,
    )

    def render(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> str:
        prompt = formatter(messages=chat_messages(messages, tools, template)).prompt  # type: ignore[arg-type]
        if thinking and "<think>" in template and not prompt.endswith(THINK_OPEN):
            prompt += THINK_OPEN
        return prompt

    return render
