"""SwiReasoning approximated against an OpenAI-compatible endpoint, from streamed top-k logprobs.

A remote server cannot be fed probability-weighted embeddings, so there is no latent mode: every token
is sampled. What survives is the controller's bookkeeping, driven by the same entropy signal (estimated
per token from `top_logprobs`, see rioagent.reasoning.entropy): it tracks the mode it *would* be in,
counts the LATENT -> EXPLICIT switches, and when the switch cap says converge (or terminate) while the
model is still thinking, the stream is cut and restarted with the partial thought closed by
`</think>\n\n`, so the model goes straight to its answer (in an agent: the tool call). As the paper notes,
most of SwiReasoning's savings come from this cap.

Two ways to resume, picked by the constructor:
- chat (default): the first leg is a normal chat request with `logprobs: true, top_logprobs: k`; the
  thought must arrive as `reasoning`/`reasoning_content` deltas (vLLM/SGLang with a reasoning parser).
  The second leg appends the assistant turn `<think>\n{thought}\n</think>\n\n` and asks the server to
  continue it (`continue_final_message: true, add_generation_prompt: false`: vLLM and SGLang). The
  thought is written the way Qwen's template re-renders it, because vLLM locates the message to continue
  by searching the rendered prompt for its text.
- completions (`render_prompt=` given): both legs go to /v1/completions with a prompt rendered locally
  from the checkpoint's template; with thinking on, a prompt that ends inside the thought
  (`<|im_start|>assistant\n<think>\n`) is scored and cut, and one that opens no thought (a template
  without thoughts) is passed through as answer. Output up to `</think>` is the thought, the rest the
  answer. The second leg's prompt is the first's plus the raw partial thought plus `</think>\n\n`. For
  servers that neither split reasoning nor continue a message (llama.cpp).
Everything the second leg produces is answer, whatever field the server puts it in: the thought is closed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import httpx

from rioagent.config import merge
from rioagent.messages import ModelReply, Usage
from rioagent.models.base import ModelError, StreamChunk
from rioagent.models.endpoint import EndpointModel
from rioagent.models.sse import DONE, iter_sse_data
from rioagent.models.think_split import ThinkSplitter
from rioagent.reasoning.entropy import entropy_from_top_logprobs, top_logprob_values
from rioagent.reasoning.swireasoning import THINK_END, SwiConfig, SwiController, SwiDecision
from rioagent.thinking import step_figures

RenderPrompt = Callable[[list[dict[str, Any]], list[dict[str, Any]]], str]
TOP_LOGPROBS = 20  # the most vLLM serves by default (--max-logprobs 20)
STOP_TEXTS = ("<|im_end|>", "<|endoftext|>")  # Qwen3.5's two end-of-turn tokens
CHARS_PER_TOKEN = 4  # prompt estimate when a completions server reports no usage


class SwiEndpointModel:
    """A Model that wraps an EndpointModel and cuts thinking short by SwiReasoning's switch cap.

    `last_stats` describes the latest `stream` call: mode ("swi-endpoint"), thinking_tokens, switches,
    injections, resumed, terminated, steps, latent_steps, explicit_steps, entropies (one per scored
    thought token), missing_logprobs (thought tokens the server sent no top list for).
    """

    backend = "swi-endpoint"

    def __init__(
        self,
        inner: EndpointModel,
        config: SwiConfig | None = None,
        *,
        render_prompt: RenderPrompt | None = None,
        top_logprobs: int = TOP_LOGPROBS,
        stop: Sequence[str] = STOP_TEXTS,
    ):
        self.inner = inner
        self.config = config or SwiConfig()
        self.render_prompt = render_prompt
        self.top_logprobs = top_logprobs
        self.stop = list(stop)
        self.last_stats: dict[str, Any] = {}

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def context_window(self) -> int:
        return self.inner.context_window

    def count_tokens(self, messages: list[dict[str, Any]]) -> int | None:
        return self.inner.count_tokens(messages)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def stream(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> AsyncIterator[StreamChunk | ModelReply]:
        run = _Run(SwiController(self.config, explicit_only=True), self.inner.thinking)
        self.last_stats = run.stats()
        source = (
            self._chat(messages, tools, run)
            if self.render_prompt is None
            else self._raw(messages, tools, run)
        )
        try:
            async for item in source:
                yield item
        finally:
            self.last_stats = run.stats()

    # -- chat completions, resumed by continuing the assistant message ------------------------------
    async def _chat(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], run: _Run
    ) -> AsyncIterator[StreamChunk | ModelReply]:
        body = self.inner.request_body(messages, tools)
        body.update(logprobs=True, top_logprobs=self.top_logprobs)
        first = self.inner.stream_request(body, messages, tools, on_choice=run.on_chat_choice)
        thought: list[str] = []
        try:
            async for item in first:
                if isinstance(item, ModelReply):
                    run.finish_usage(item.usage)
                    yield _with_usage(item, run)
                    return
                if item.kind == "reasoning":
                    thought.append(item.text)
                yield item
                if run.cut is not None:
                    break
        finally:
            await first.aclose()
        if run.cut is None:
            raise ModelError(f"the stream from {self.inner.base_url} ended without a reply; retry the step")
        closing = run.closing_text(self.config)
        prefix = "<think>\n" + "".join(thought).strip("\n") + "\n" + closing
        resumed = [*messages, {"role": "assistant", "content": prefix}]
        body = self.inner.request_body(resumed, tools)
        body.update(
            continue_final_message=True,
            add_generation_prompt=False,
            max_tokens=run.remaining(body.get("max_tokens")),
        )
        answer: list[str] = []
        async for item in self.inner.stream_request(body, resumed, tools):
            if isinstance(item, ModelReply):
                # Text the server filed as reasoning came first in the stream: it is answer now.
                content = "".join(answer) + item.content
                run.finish_usage(item.usage, resumed=True)
                yield ModelReply(
                    content=content,
                    reasoning="".join(thought),
                    tool_calls=item.tool_calls,
                    usage=run.usage(),
                    finish_reason=item.finish_reason,
                    thinking=run.figures(),
                )
                return
            if item.kind == "reasoning":
                answer.append(item.text)
            yield StreamChunk("content", item.text)

    # -- raw completions over a locally rendered prompt --------------------------------------------
    async def _raw(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], run: _Run
    ) -> AsyncIterator[StreamChunk | ModelReply]:
        assert self.render_prompt is not None
        prompt = self.render_prompt(messages, tools)
        body = self._completion_body(prompt, logprobs=True)
        run.prompt_tokens = len(prompt) // CHARS_PER_TOKEN
        # A template without a thought (SmolLM2's) opens none: the reply is all answer, as in-process.
        run.thinking = self.inner.thinking and prompt.rstrip().endswith("<think>")
        split = ThinkSplitter(in_thought=run.thinking)
        raw: list[str] = []
        leg = _CompletionLeg(self.inner, body)
        choices = leg.choices()
        try:
            async for choice in choices:
                text = choice.get("text") or ""
                run.on_completion_choice(choice, split.in_thought)
                raw.append(text)
                for chunk in split.feed(text):
                    yield chunk
                if not split.in_thought:
                    run.controller.observe_token(THINK_END)
                if run.cut is not None:
                    break
        finally:
            await choices.aclose()  # closes the response: a cut stream stops generating on the server
        if run.cut is None:
            for chunk in split.flush():
                yield chunk
            run.finish_usage(leg.usage_or(run))
            yield ModelReply(
                content=split.content,
                reasoning=split.reasoning,
                usage=run.usage(),
                finish_reason=leg.finish_reason or "stop",
                thinking=run.figures(),
            )
            return
        for chunk in split.flush():
            yield chunk
        thought = split.reasoning
        prompt2 = prompt + "".join(raw) + run.closing_text(self.config)
        body2 = self._completion_body(prompt2, logprobs=False)
        body2["max_tokens"] = run.remaining(body.get("max_tokens"))
        answer = ThinkSplitter(in_thought=False)
        leg2 = _CompletionLeg(self.inner, body2)
        async for choice in leg2.choices():
            if choice.get("text"):
                run.answer_tokens += 1  # these servers stream one token per chunk; usage, if sent, wins
            for chunk in answer.feed(choice.get("text") or ""):
                yield chunk
        for chunk in answer.flush():
            yield chunk
        run.finish_usage(leg2.usage_or(run), resumed=True)
        yield ModelReply(
            content=answer.content,
            reasoning=thought,
            usage=run.usage(),
            finish_reason=leg2.finish_reason or "stop",
            thinking=run.figures(),
        )

    def _completion_body(self, prompt: str, *, logprobs: bool) -> dict[str, Any]:
        profile = self.inner.profile
        body: dict[str, Any] = {
            "model": self.inner.name,
            "prompt": prompt,
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": profile.max_output_tokens,
            "stop": self.stop,
            **profile.sampling,
        }
        if logprobs:
            body["logprobs"] = self.top_logprobs  # legacy completions: an int, the top-k size
        extra = {k: v for k, v in profile.extra_body.items() if k != "chat_template_kwargs"}
        return merge(body, extra)


class _Run:
    """The state of one `stream` call: the controller, the token counts, and where the thought was cut."""

    def __init__(self, controller: SwiController, thinking: bool):
        self.controller = controller
        self.thinking = thinking
        self.cut: SwiDecision | None = None
        self.thinking_tokens = 0
        self.answer_tokens = 0
        self.missing_logprobs = 0
        self.entropies: list[float] = []
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.server_reasoning_tokens: int | None = None

    def on_chat_choice(self, choice: dict[str, Any]) -> None:
        delta = choice.get("delta") or {}
        entries = ((choice.get("logprobs") or {}).get("content")) or []
        if delta.get("content") or delta.get("tool_calls"):
            # The server split the thought off: answer text means it has ended.
            self.controller.observe_token(THINK_END)
        if delta.get("reasoning") or delta.get("reasoning_content"):
            self._score(
                entries or [None],
                lambda e: e.get("top_logprobs") if e else None,
                lambda e: e.get("token", "") if e else "",
            )
        else:
            self.answer_tokens += len(entries) or int(bool(delta.get("content")))

    def on_completion_choice(self, choice: dict[str, Any], in_thought: bool) -> None:
        logprobs = choice.get("logprobs") or {}
        tokens = logprobs.get("tokens") or []
        tops = logprobs.get("top_logprobs") or [None] * len(tokens)
        if not tokens and choice.get("text"):
            tokens, tops = [choice["text"]], [None]
        if not in_thought or not self.thinking:
            self.answer_tokens += len(tokens)
            return
        self._score(list(zip(tokens, tops, strict=False)), lambda e: e[1], lambda e: e[0])

    def _score(self, entries: list[Any], top: Callable[[Any], Any], token: Callable[[Any], str]) -> None:
        for entry in entries:
            self.thinking_tokens += 1
            if self.cut is not None or self.controller.locked:
                continue  # the rest of a chunk that already decided: kept, not scored
            values = top_logprob_values(top(entry))
            if not values:
                self.missing_logprobs += 1
                continue
            entropy = entropy_from_top_logprobs(values)
            self.entropies.append(entropy)
            decision = self.controller.step(entropy, token_text=token(entry))
            if decision.inject is not None or decision.terminate_thinking:
                self.cut = decision

    def closing_text(self, config: SwiConfig) -> str:
        """What ends the thought: the injection the controller chose, always closing with </think>."""
        text = self.cut.inject if self.cut is not None and self.cut.inject else config.converge_text
        return text if THINK_END in text else THINK_END + "\n\n"

    def remaining(self, max_tokens: Any) -> Any:
        """The second leg's max_tokens: what the first left of the request's budget (None: no limit)."""
        if not isinstance(max_tokens, int):
            return max_tokens
        return max(1, max_tokens - self.thinking_tokens - self.answer_tokens)

    def finish_usage(self, usage: Usage, *, resumed: bool = False) -> None:
        if not resumed:
            self.prompt_tokens = usage.prompt_tokens or self.prompt_tokens
            self.completion_tokens = max(usage.completion_tokens, self.thinking_tokens + self.answer_tokens)
            if usage.reasoning_tokens and not self.cut:
                self.server_reasoning_tokens = usage.reasoning_tokens
            return
        # The resumed prompt re-sends the thought; the request's own prompt is what the context holds.
        self.prompt_tokens = self.prompt_tokens or max(0, usage.prompt_tokens - self.thinking_tokens)
        self.answer_tokens = max(self.answer_tokens, usage.completion_tokens)
        self.completion_tokens = self.thinking_tokens + self.answer_tokens

    def usage(self) -> Usage:
        thought = (
            self.server_reasoning_tokens
            if self.server_reasoning_tokens is not None
            else (self.thinking_tokens)
        )
        return Usage(self.prompt_tokens, self.completion_tokens, thought)

    def figures(self) -> dict[str, Any]:
        """The step's thinking figures for the agent's events (rioagent.thinking). No step is really latent
        against a server, every token is sampled: the would-be latent count stays in `stats`."""
        c = self.controller
        return step_figures(
            "swi-endpoint" if self.thinking else "off",
            self.thinking_tokens,
            switches=c.switches,
            injections=list(c.injections),
            resumed=self.cut is not None,
            terminated=c.terminated,
        )

    def stats(self) -> dict[str, Any]:
        c = self.controller
        return {
            "mode": "swi-endpoint",
            "thinking_tokens": self.thinking_tokens,
            "answer_tokens": self.answer_tokens,
            "switches": c.switches,
            "injections": list(c.injections),
            "resumed": self.cut is not None,
            "terminated": c.terminated,
            "steps": c.steps,
            "latent_steps": c.latent_steps,
            "explicit_steps": c.explicit_steps,
            "entropies": list(self.entropies),
            "missing_logprobs": self.missing_logprobs,
        }


def _with_usage(reply: ModelReply, run: _Run) -> ModelReply:
    return ModelReply(
        content=reply.content,
        reasoning=reply.reasoning,
        tool_calls=reply.tool_calls,
        usage=run.usage(),
        finish_reason=reply.finish_reason,
        thinking=run.figures(),
    )


class _CompletionLeg:
    """One streamed POST /completions: yields its choices, remembers usage and finish_reason."""

    def __init__(self, model: EndpointModel, body: dict[str, Any]):
        self.model = model
        self.body = body
        self.usage: dict[str, Any] | None = None
        self.finish_reason = ""
        self._response: httpx.Response | None = None

    async def choices(self) -> AsyncIterator[dict[str, Any]]:
        base = self.model.base_url
        self._response = await self.model.open_stream(self.body, path="/completions")
        done = False
        try:
            async for data in iter_sse_data(self._response.aiter_lines()):
                if data.strip() == DONE:
                    done = True
                    break
                chunk = _parse(data, base)
                self.usage = chunk.get("usage") or self.usage
                for choice in chunk.get("choices") or []:
                    self.finish_reason = choice.get("finish_reason") or self.finish_reason
                    yield choice
        except httpx.TransportError as exc:
            raise ModelError(
                f"the completion stream from {base} broke ({exc or type(exc).__name__}); retry the step"
            ) from exc
        finally:
            await self.close()
        if not done and not self.finish_reason:
            raise ModelError(f"the completion stream from {base} closed before it finished; retry the step")

    async def close(self) -> None:
        if self._response is not None:
            await self._response.aclose()

    def usage_or(self, run: _Run) -> Usage:
        """The server's usage, or this run's own token counts when it sent none (llama-cpp-python)."""
        raw = self.usage or {}
        return Usage(
            int(raw.get("prompt_tokens") or run.prompt_tokens), int(raw.get("completion_tokens") or 0), 0
        )


def _parse(data: str, base_url: str) -> dict[str, Any]:
    try:
        chunk = json.loads(data)
    except ValueError as exc:
        raise ModelError(
            f"the server at {base_url} sent a stream event that is not JSON: {data[:200]!r}"
        ) from exc
    if not isinstance(chunk, dict):
        raise ModelError(f"the server at {base_url} sent an unexpected stream event: {data[:200]!r}")
    if error := chunk.get("error"):
        message = error.get("message", error) if isinstance(error, dict) else error
        raise ModelError(f"the server at {base_url} reported an error mid-stream: {message}")
    return chunk
