"""The in-process backend: a checkpoint loaded in this process, behind the same Model interface as an
endpoint. Decoding runs in a worker thread; tokens cross into the event loop as they are decided."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from rioagent.config import ModelProfile
from rioagent.messages import ModelReply, Usage
from rioagent.models.base import ModelError
from rioagent.models.chat_messages import chat_messages
from rioagent.models.engine import Engine, GenerationStats
from rioagent.models.sampling import SamplingParams
from rioagent.models.think_split import ThinkSplitter
from rioagent.reasoning.swireasoning import SwiConfig
from rioagent.thinking import step_figures

TOOL_CALL_END = "</tool_call>"
FINISH_REASONS = {"stop_id": "stop", "stop_check": "stop", "swi_finish": "stop", "max_tokens": "length"}


class Detokenizer:
    """Incremental decoding: text deltas from a growing id list without re-decoding it all each time,
    holding back a multi-byte character until its last byte arrives."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self._prefix = 0
        self._read = 0

    def add(self, token_id: int) -> str:
        self.ids.append(token_id)
        decode = self.tokenizer.decode
        before = decode(self.ids[self._prefix : self._read], skip_special_tokens=False)
        after = decode(self.ids[self._prefix :], skip_special_tokens=False)
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self._prefix, self._read = self._read, len(self.ids)
            return after[len(before) :]
        return ""


class ToolCallStop:
    """Stop once a tool call is complete and no further call follows (several calls per reply allowed)."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self._tail = ""

    def __call__(self, generated: list[int]) -> bool:
        self._tail = (self._tail + self.tokenizer.decode(generated[-1:], skip_special_tokens=False))[-64:]
        closed_at = self._tail.rfind(TOOL_CALL_END)
        if closed_at < 0:
            return False
        gap = self._tail[closed_at + len(TOOL_CALL_END) :]
        after = gap.lstrip()
        if not after:
            return len(gap) > 8  # whitespace only: wait a little for another call, not forever
        opening = "<tool_call>"
        return not (after.startswith(opening) or opening.startswith(after))


class LocalModel:
    backend = "local"
    banner: str | None = None

    def __init__(
        self,
        engine: Engine,
        tokenizer: Any,
        *,
        name: str,
        context_window: int,
        max_output_tokens: int,
        sampling: SamplingParams,
        thinking: bool,
        swi: SwiConfig | None,
    ):
        self.engine = engine
        self.tokenizer = tokenizer
        self.name = name
        self.context_window = context_window
        self.max_output_tokens = max_output_tokens
        self.sampling = sampling
        self.thinking = thinking
        self.swi = swi
        self._tools: list[dict[str, Any]] = []

    def render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> str:
        template = self.tokenizer.chat_template or ""
        return self.tokenizer.apply_chat_template(
            chat_messages(messages, tools, template),
            tools=tools or None,
            add_generation_prompt=True,
            tokenize=False,
            enable_thinking=self.thinking,
        )

    def count_tokens(self, messages: list[dict[str, Any]]) -> int | None:
        return len(self.tokenizer.encode(self.render(messages, self._tools), add_special_tokens=False))

    async def aclose(self) -> None:
        return None

    async def stream(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]):
        self._tools = tools
        text = self.render(messages, tools)
        prompt = self.tokenizer.encode(text, add_special_tokens=False)
        in_thought = text.rstrip().endswith("<think>")
        budget = min(self.max_output_tokens, self.context_window - len(prompt) - 1)
        if budget < 1:
            raise ModelError(
                f"the prompt has {len(prompt)} tokens and fills the {self.context_window}-token context; "
                "compact the conversation or raise context_window"
            )
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancel = threading.Event()
        stats = GenerationStats()

        def work() -> None:
            try:
                for token in self.engine.generate(
                    prompt,
                    self.sampling,
                    max_new_tokens=budget,
                    swi=self.swi,
                    stop_check=ToolCallStop(self.tokenizer),
                    cancel=cancel,
                    stats=stats,
                    thinking=in_thought,
                ):
                    loop.call_soon_threadsafe(queue.put_nowait, token)
            except BaseException as exc:  # handed to the event loop, raised there
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            else:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        worker = threading.Thread(target=work, name="rioagent-decode", daemon=True)
        worker.start()
        split = ThinkSplitter(in_thought=in_thought)
        detok = Detokenizer(self.tokenizer)
        stop_ids = self.engine.special.stop
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise _model_error(item) from item
                if item.id in stop_ids:
                    continue
                for chunk in split.feed(detok.add(item.id)):
                    yield chunk
            for chunk in split.flush():
                yield chunk
        finally:
            cancel.set()
            await asyncio.to_thread(worker.join)
        figures = step_figures(
            ("swi" if stats.mode == "swi" else "on") if in_thought else "off",
            stats.thinking_tokens,
            latent_steps=stats.latent_steps,
            switches=stats.switches,
            injections=stats.injections,
            reused_tokens=stats.reused_tokens,
            prefilled_tokens=stats.prefilled_tokens,
            ttft_s=round(stats.ttft_s, 4),
        )
        yield ModelReply(
            content=split.content,
            reasoning=split.reasoning,
            usage=Usage(len(prompt), stats.generated_tokens, stats.thinking_tokens),
            finish_reason=FINISH_REASONS.get(stats.stop_reason, stats.stop_reason),
            thinking=figures,
        )


def _model_error(exc: BaseException) -> ModelError:
    if isinstance(exc, ModelError):
        return exc
    if "out of memory" in str(exc).lower():
        return ModelError(
            f"the GPU ran out of memory while decoding ({exc}); lower context_window or give the model "
            "more memory (max_memory, more GPUs)"
        )
    return ModelError(f"the in-process engine failed: {type(exc).__name__}: {exc}")


def swi_config(profile: ModelProfile) -> SwiConfig:
    return SwiConfig(max_new_tokens=max(1, profile.max_output_tokens))


def sampling_params(profile: ModelProfile) -> SamplingParams:
    allowed = {"temperature", "top_p", "top_k", "min_p", "presence_penalty", "seed"}
    try:
        return SamplingParams(**{k: v for k, v in profile.sampling.items() if k in allowed})
    except (TypeError, ValueError) as exc:
        raise ModelError(f"profile {profile.name!r}: bad sampling settings: {exc}") from exc


async def create_local_model(
    profile: ModelProfile, *, thinking: bool = True, think: str = "on"
) -> LocalModel:
    """Load the profile's checkpoint (or the built-in demonstration model) and wrap it."""
    from rioagent.models.loader import load_checkpoint
    from rioagent.models.smollm import BUILTIN, builtin_checkpoint

    if not profile.path:
        raise ModelError(f"profile {profile.name!r} has backend 'local' but no path; give --local DIR")
    builtin = profile.path == BUILTIN
    if builtin:
        from dataclasses import replace

        path = await asyncio.to_thread(builtin_checkpoint)
        profile = replace(profile, path=str(path), device_map="cpu", dtype="float32")
    loaded = await asyncio.to_thread(load_checkpoint, profile)
    tok = loaded.tokenizer
    engine = Engine(
        loaded.runner,
        loaded.special,
        decode_text=lambda ids: tok.decode(ids, skip_special_tokens=False),
        encode_text=lambda text: tok.encode(text, add_special_tokens=False),
    )
    model = LocalModel(
        engine,
        tok,
        name=loaded.name,
        context_window=loaded.context_window,
        max_output_tokens=profile.max_output_tokens,
        sampling=sampling_params(profile),
        thinking=thinking,
        swi=swi_config(profile) if think in ("swi", "auto") and thinking else None,
    )
    if builtin:
        from rioagent.models.smollm import BANNER

        model.banner = BANNER
    return model
