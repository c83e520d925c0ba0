"""Any OpenAI-compatible chat endpoint (vLLM, SGLang, llama.cpp server, hosted APIs), streamed over SSE.

What goes out: the messages exactly as the agent built them (assistant turns keep `reasoning_content`,
which Qwen3.5's template re-renders for the current tool loop), the tools (the server's chat template
renders them), `chat_template_kwargs.enable_thinking`, the profile's sampling top-level (top_k, min_p,
presence_penalty are not OpenAI parameters, but vLLM, SGLang and llama.cpp read them there), max_tokens,
then the profile's `extra_body` merged last so it can override any of it.

What comes back: the thought from `delta.reasoning` (newer vLLM) or `delta.reasoning_content` (older
vLLM, llama.cpp), the answer from `delta.content`, OpenAI-native `delta.tool_calls` assembled into
ToolCalls. Calls the model wrote into `content` (Qwen3.5 XML) are left for the agent to parse, and so are
native calls that fail to parse (unknown tool, broken JSON): they are appended to the content as Hermes
`<tool_call>{json}</tool_call>` text, so the agent's parser reports the fault to the model.

Usage: taken from the server's final usage chunk. When the server does not split out reasoning tokens
(`usage.completion_tokens_details.reasoning_tokens`), they are estimated as the reasoning's share of the
streamed characters times completion_tokens. When the server sends no usage at all (llama-cpp-python
ignores `stream_options`), completion_tokens is the number of streamed deltas (these servers send one
per token) and prompt_tokens is the prompt's characters / 4 plus a few tokens per message: rough, but
budgets and compaction need a number.

Retries: connection errors, timeouts, 429 (honouring Retry-After, capped) and 5xx are retried with
exponential backoff and jitter, at most profile.max_retries times, and only before the first token:
a stream that breaks later raises ModelError (the agent may retry the whole step). A refused connection
is retried only once the server has answered before (a restarting server); on the very first request it
fails at once, because a server that was never up is not going to appear during the backoff.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from rioagent.config import ModelProfile, merge
from rioagent.messages import ModelReply, ToolCall, Usage
from rioagent.models.base import ModelError, ModelNotFound, ModelUnreachable, StreamChunk
from rioagent.models.sse import DONE, iter_sse_data

RETRY_BASE_DELAY = 0.5  # seconds before the first retry; doubles each time
RETRY_MAX_DELAY = 20.0
RETRY_AFTER_CAP = 60.0  # never sleep longer than this on a server's Retry-After
# Only for estimating prompt tokens when the server reports no usage.
CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4  # <|im_start|>role\n ... <|im_end|>\n


class _Retryable(Exception):
    """One failed attempt that may succeed later; `error` is what to raise if it never does."""

    def __init__(self, error: ModelError, retry_after: float | None = None):
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class EndpointModel:
    backend = "endpoint"

    def __init__(
        self,
        profile: ModelProfile,
        *,
        thinking: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
        retry_base_delay: float = RETRY_BASE_DELAY,
    ):
        self.profile = profile
        self.name = profile.model
        self.context_window = profile.context_window
        self.thinking = thinking
        self.base_url = profile.base_url.rstrip("/")
        self.retry_base_delay = retry_base_delay
        headers = {"Authorization": f"Bearer {key}"} if (key := profile.api_key()) else {}
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(profile.read_timeout, connect=profile.connect_timeout),
            transport=transport,
            headers=headers,
            # An HTTP(S)_PROXY meant for the outside world must not swallow a server on this machine.
            trust_env=not _is_loopback(self.base_url),
        )
        self._answered_once = False

    # -- Model protocol -----------------------------------------------------------------------------
    async def stream(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> AsyncIterator[StreamChunk | ModelReply]:
        if not self.name:
            self.name = await self._only_served_model()
        async for item in self.stream_request(self.request_body(messages, tools), messages, tools):
            yield item

    async def stream_request(
        self,
        body: dict[str, Any],
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        on_choice: Callable[[dict[str, Any]], None] | None = None,
    ) -> AsyncIterator[StreamChunk | ModelReply]:
        """`stream` with a body the caller built (from `request_body`, then changed). `on_choice` sees
        each raw streamed choice (delta, logprobs, finish_reason) before its text is yielded; a caller
        that wants to cut the stream short stops iterating, which closes the response."""
        response = await self.open_stream(body)
        try:
            async for item in self._read(response, messages, tools, on_choice):
                yield item
        finally:
            await response.aclose()

    async def open_stream(self, body: dict[str, Any], *, path: str = "/chat/completions") -> httpx.Response:
        """POST `body` to {base_url}{path} with the usual retries; the 200 response, body unread: the
        caller reads it and must close it. `path="/completions"` reaches raw-prompt completions."""
        if not body.get("model"):
            if not self.name:
                self.name = await self._only_served_model()
            body = {**body, "model": self.name}
        return await self._open(body, path)

    def count_tokens(self, messages: list[dict[str, Any]]) -> int | None:
        return None

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- the request --------------------------------------------------------------------------------
    def request_body(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.name,
            "messages": [_wire_message(m) for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": self.profile.max_output_tokens,
            "chat_template_kwargs": {"enable_thinking": self.thinking},
            **self.profile.sampling,
        }
        if tools:
            body["tools"] = tools
        return merge(body, self.profile.extra_body)

    async def served_models(self) -> list[str]:
        """The model ids the server lists at GET {base_url}/models."""
        url = f"{self.base_url}/models"
        try:
            response = await self._client.get(url)
        except httpx.ConnectError as exc:
            raise ModelUnreachable(_refused_message(self.base_url, exc)) from exc
        except httpx.TimeoutException as exc:
            raise ModelUnreachable(f"no answer from {url} within the timeout ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise ModelUnreachable(f"cannot reach {url}: {exc}") from exc
        self._answered_once = True
        if response.status_code != 200:
            raise ModelError(f"GET {url} answered HTTP {response.status_code}: {_error_text(response)}")
        try:
            return [str(entry["id"]) for entry in response.json()["data"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"GET {url} did not return an OpenAI model list: {response.text[:200]}") from exc

    async def _open(self, body: dict[str, Any], path: str = "/chat/completions") -> httpx.Response:
        """POST the request, retrying what may pass; return the 200 response with its body unread."""
        attempts = self.profile.max_retries + 1
        for attempt in range(attempts):
            try:
                return await self._attempt(body, path)
            except _Retryable as failure:
                if attempt + 1 >= attempts:
                    raise _gave_up(failure.error, attempts) from None
                await asyncio.sleep(self._delay(attempt, failure.retry_after))
        raise AssertionError("unreachable")

    async def _attempt(self, body: dict[str, Any], path: str = "/chat/completions") -> httpx.Response:
        url = f"{self.base_url}{path}"
        try:
            request = self._client.build_request("POST", url, json=body)
            response = await self._client.send(request, stream=True)
        except httpx.ConnectError as exc:
            error = ModelUnreachable(_refused_message(self.base_url, exc))
            if not self._answered_once:
                raise error from exc
            raise _Retryable(error) from exc
        except httpx.TimeoutException as exc:
            kind = "connect" if isinstance(exc, httpx.ConnectTimeout) else "read"
            limit = self.profile.connect_timeout if kind == "connect" else self.profile.read_timeout
            raise _Retryable(ModelUnreachable(
                f"no answer from {url} within {limit:g} s ({kind} timeout); the server may be overloaded "
                f"or hung. Check it, or raise {kind}_timeout in the model profile"
            )) from exc
        except httpx.TransportError as exc:
            raise _Retryable(ModelUnreachable(f"cannot reach {url}: {exc or type(exc).__name__}")) from exc
        self._answered_once = True
        if response.status_code == 200:
            return response
        await response.aread()
        await response.aclose()
        status, text = response.status_code, _error_text(response)
        if status == 429:
            raise _Retryable(
                ModelError(f"{url} is rate-limiting requests (HTTP 429): {text}"), _retry_after(response)
            )
        if status >= 500:
            raise _Retryable(ModelError(f"the server at {self.base_url} failed (HTTP {status}): {text}"))
        if status == 404 or (status == 400 and "model" in text.lower()):
            raise await self._not_found(status, text)
        raise ModelError(f"the server at {self.base_url} rejected the request (HTTP {status}): {text}")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, RETRY_AFTER_CAP)
        ceiling = min(RETRY_MAX_DELAY, self.retry_base_delay * 2**attempt)
        return ceiling * random.uniform(0.5, 1.0)  # jitter: parallel eval workers don't retry in lockstep

    async def _not_found(self, status: int, text: str) -> ModelError:
        try:
            served = await self.served_models()
        except ModelError:
            return ModelNotFound(
                f"the server at {self.base_url} has no /chat/completions (HTTP {status}: {text}) and no "
                "/models list; check the endpoint URL (OpenAI-compatible servers usually end in /v1)"
            )
        if self.name in served:
            return ModelError(f"the server at {self.base_url} answered HTTP {status}: {text}")
        return ModelNotFound(_not_served_message(self.base_url, self.name, served))

    async def _only_served_model(self) -> str:
        served = await self.served_models()
        if len(served) == 1:
            return served[0]
        raise ModelNotFound(_not_served_message(self.base_url, "", served))

    # -- the stream ---------------------------------------------------------------------------------
    async def _read(
        self,
        response: httpx.Response,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        on_choice: Callable[[dict[str, Any]], None] | None = None,
    ) -> AsyncIterator[StreamChunk | ModelReply]:
        from rioagent.toolcalls import ToolCallAssembler, ToolCallParseError

        content: list[str] = []
        reasoning: list[str] = []
        assembler = ToolCallAssembler()
        raw_calls: list[dict[str, Any]] = []  # kept only to hand malformed calls on to the agent
        usage: dict[str, Any] | None = None
        finish_reason = ""
        deltas = 0
        done = False
        chars = 0
        try:
            async for data in iter_sse_data(response.aiter_lines()):
                if data.strip() == DONE:
                    done = True
                    break
                chunk = _parse_chunk(data, self.base_url)
                usage = chunk.get("usage") or usage
                for choice in chunk.get("choices") or []:
                    if on_choice is not None:
                        on_choice(choice)
                    delta = choice.get("delta") or {}
                    # Newer vLLM names it `reasoning`; never both, but a server sending both would double it.
                    thought = delta.get("reasoning") or delta.get("reasoning_content")
                    if thought:
                        reasoning.append(thought)
                        chars += len(thought)
                        deltas += 1
                        yield StreamChunk("reasoning", thought)
                    if text := delta.get("content"):
                        content.append(text)
                        chars += len(text)
                        deltas += 1
                        yield StreamChunk("content", text)
                    if calls := delta.get("tool_calls"):
                        assembler.feed(calls)
                        raw_calls.extend(calls)
                        deltas += 1
                    finish_reason = choice.get("finish_reason") or finish_reason
        except httpx.TimeoutException as exc:
            raise ModelError(
                f"the stream from {self.base_url} stalled for {self.profile.read_timeout:g} s after {chars} "
                "chars; retry the step, or raise read_timeout in the model profile"
            ) from exc
        except httpx.TransportError as exc:
            raise ModelError(
                f"the stream from {self.base_url} broke after {chars} chars ({exc or type(exc).__name__}); "
                "retry the step"
            ) from exc
        if not done and not finish_reason:
            raise ModelError(
                f"the stream from {self.base_url} broke after {chars} chars (closed before it finished); "
                "retry the step"
            )
        reasoning_text, content_text = "".join(reasoning), "".join(content)
        try:
            tool_calls: list[ToolCall] = assembler.calls(tools)
        except ToolCallParseError:
            # Malformed native calls go into the content as Hermes JSON: the agent parses content
            # calls anyway, hits the same fault there, and tells the model what to fix.
            tool_calls = []
            content_text += _hermes_text(raw_calls)
        yield ModelReply(
            content=content_text,
            reasoning=reasoning_text,
            tool_calls=tool_calls,
            usage=_usage(usage, reasoning_text, content_text, tool_calls, deltas, messages, tools),
            finish_reason=finish_reason or "stop",
        )


def _hermes_text(deltas: list[dict[str, Any]]) -> str:
    """Streamed OpenAI tool-call deltas, joined per call and written as `<tool_call>{json}</tool_call>`."""
    parts: dict[Any, dict[str, Any]] = {}
    for delta in deltas:
        if not isinstance(delta, dict):
            continue
        fn = delta.get("function") if isinstance(delta.get("function"), dict) else {}
        part = parts.setdefault(delta.get("index", 0), {"name": "", "arguments": ""})
        part["name"] = part["name"] or fn.get("name") or ""
        part["arguments"] += fn.get("arguments") if isinstance(fn.get("arguments"), str) else ""
    blocks = []
    for part in parts.values():
        try:
            arguments: Any = json.loads(part["arguments"] or "{}")
        except ValueError:
            arguments = part["arguments"]  # left as the broken text, so the parser can quote it
        call = json.dumps({"name": part["name"], "arguments": arguments}, ensure_ascii=False)
        blocks.append(f"\n<tool_call>\n{call}\n</tool_call>")
    return "".join(blocks)


def _is_loopback(url: str) -> bool:
    return httpx.URL(url).host in ("127.0.0.1", "localhost", "::1", "[::1]")


def _wire_message(message: dict[str, Any]) -> dict[str, Any]:
    # An assistant turn that only calls tools has content None; llama-cpp-python's server rejects null
    # content with a 500, and "" means the same to every template.
    if message.get("content", "") is None:
        return {**message, "content": ""}
    return message


def _parse_chunk(data: str, base_url: str) -> dict[str, Any]:
    try:
        chunk = json.loads(data)
    except ValueError as exc:
        raise ModelError(
            f"the server at {base_url} sent a stream event that is not JSON: {data[:200]!r}"
        ) from exc
    if not isinstance(chunk, dict):
        raise ModelError(f"the server at {base_url} sent an unexpected stream event: {data[:200]!r}")
    if chunk.get("error"):
        error = chunk["error"]
        message = error.get("message", error) if isinstance(error, dict) else error
        raise ModelError(f"the server at {base_url} reported an error mid-stream: {message}")
    return chunk


def _estimate_prompt_tokens(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> int:
    """Characters / 4 of what the template renders, plus a few tokens of role markers per message."""
    chars = len(json.dumps(tools)) if tools else 0
    for message in messages:
        chars += len(str(message.get("content") or "")) + len(str(message.get("reasoning_content") or ""))
        chars += len(json.dumps(message["tool_calls"])) if message.get("tool_calls") else 0
    return chars // CHARS_PER_TOKEN + MESSAGE_OVERHEAD_TOKENS * len(messages)


def _usage(
    raw: dict[str, Any] | None,
    reasoning: str,
    content: str,
    tool_calls: list[ToolCall],
    deltas: int,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
) -> Usage:
    answer_chars = len(content) + sum(len(json.dumps(c.arguments)) + len(c.name) for c in tool_calls)
    if raw:
        prompt = int(raw.get("prompt_tokens") or 0)
        completion = int(raw.get("completion_tokens") or 0)
    else:
        prompt = _estimate_prompt_tokens(messages, tools)
        completion = deltas
    details = (raw or {}).get("completion_tokens_details") or {}
    if details.get("reasoning_tokens") is not None:
        thought = int(details["reasoning_tokens"])
    elif reasoning:
        thought = round(completion * len(reasoning) / (len(reasoning) + answer_chars))
    else:
        thought = 0
    return Usage(prompt_tokens=prompt, completion_tokens=completion, reasoning_tokens=thought)


def _error_text(response: httpx.Response) -> str:
    """The server's own words: OpenAI-style `error.message` when there is one, else the body's start."""
    try:
        payload = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:1000]
        if isinstance(error, str):
            return error[:1000]
        if payload.get("detail"):
            return str(payload["detail"])[:1000]
        if payload.get("message"):
            return str(payload["message"])[:1000]
    return response.text.strip()[:500]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date or nothing: fall back to our own backoff


def _refused_message(base_url: str, exc: BaseException) -> str:
    # httpx says "All connection attempts failed"; the OS's reason sits further down the cause chain.
    reason = str(exc) or type(exc).__name__
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError) or "refused" in str(cause).lower():
            reason = "connection refused"
            break
        cause = cause.__cause__ or cause.__context__
    return f"cannot reach {base_url}: {reason}. Is the server running? Start it or pass --endpoint URL"


def _not_served_message(base_url: str, wanted: str, served: list[str]) -> str:
    if not served:
        return f"the server at {base_url} serves no models; check that it finished loading"
    head = f"model {wanted!r} is not served; " if wanted else "no model named; "
    return f"{head}the server at {base_url} serves: {', '.join(served)}; pass --model {served[0]}"


def _gave_up(error: ModelError, attempts: int) -> ModelError:
    return type(error)(f"{error} (gave up after {attempts} attempts)")
