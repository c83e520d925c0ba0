"""EndpointModel and the demo backend against a real llama.cpp server (llama-cpp-python) over SmolLM2-135M.

Facts about llama-cpp-python's server these tests pin down (so a changed server version shows up here):
- it ignores `stream_options.include_usage`: streams carry no usage, so EndpointModel counts one
  completion token per streamed delta, which matches the server's own count (checked below);
- it ignores the request's model name and answers with whatever it loaded: a wrong --model is not
  detected by the server, but `served_models()` lists the alias it serves.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import httpx
import pytest

from rioagent.config import ModelProfile
from rioagent.messages import ModelReply
from rioagent.models.base import ModelError, StreamChunk, complete
from rioagent.models.demo import BANNER, DEFAULT_ALIAS, LlamaServer, find_gguf
from rioagent.models.endpoint import EndpointModel
from rioagent.models.factory import create_model
from tests.conftest_servers import require_llama_cpp

pytestmark = pytest.mark.llama_server

EOS_ID = "2"  # <|im_end|> in SmolLM2's vocabulary: banned, so generations run to max_tokens
PROMPT = [{"role": "user", "content": "Write a short poem about the sea."}]


def profile_for(base_url: str, **overrides: Any) -> ModelProfile:
    settings: dict[str, Any] = {
        "model": DEFAULT_ALIAS,
        "max_output_tokens": 12,
        "sampling": {"temperature": 0.0},
        "extra_body": {"logit_bias": {EOS_ID: -100}, "seed": 1},
        "max_retries": 1,
        **overrides,
    }
    return ModelProfile(name="llama", base_url=base_url, **settings)


async def test_streams_content_and_reports_usage(llama_server):
    model = EndpointModel(profile_for(llama_server.base_url))
    try:
        items = [item async for item in model.stream(PROMPT, [])]
    finally:
        await model.aclose()
    chunks, reply = items[:-1], items[-1]
    assert isinstance(reply, ModelReply)
    assert chunks and all(isinstance(c, StreamChunk) and c.kind == "content" for c in chunks)
    assert reply.content == "".join(c.text for c in chunks) and reply.content.strip()
    assert reply.reasoning == "" and reply.tool_calls == []
    assert reply.finish_reason == "length"
    assert reply.usage.completion_tokens == 12
    assert reply.usage.prompt_tokens > 0

    # The same request without streaming gets the server's own token counts: ours must agree.
    async with httpx.AsyncClient(timeout=60, trust_env=False) as client:
        body = {**model.request_body(PROMPT, []), "stream": False}
        body.pop("stream_options")
        answer = (await client.post(f"{llama_server.base_url}/chat/completions", json=body)).json()
    assert answer["choices"][0]["message"]["content"] == reply.content  # greedy: same text
    assert answer["usage"]["completion_tokens"] == reply.usage.completion_tokens
    # prompt_tokens is an estimate here (the template adds a default system prompt we can't see);
    # it must be the right order of magnitude.
    served_prompt = answer["usage"]["prompt_tokens"]
    assert served_prompt / 4 <= reply.usage.prompt_tokens <= served_prompt * 4


async def test_wrong_model_name_is_ignored_by_llama_cpp_but_served_models_tells(llama_server):
    model = EndpointModel(profile_for(llama_server.base_url, model="no-such-model"))
    try:
        assert await model.served_models() == [DEFAULT_ALIAS]
        reply = await complete(model, PROMPT, [])
    finally:
        await model.aclose()
    assert reply.content  # llama-cpp-python answered anyway (vLLM would 404: see test_endpoint.py)


async def test_server_killed_mid_stream_raises_instead_of_hanging():
    require_llama_cpp()
    server = LlamaServer(find_gguf(), n_ctx=1024).start()
    try:
        await asyncio.to_thread(server.wait_ready)
        pid = server.process.pid
        model = EndpointModel(profile_for(server.base_url, max_output_tokens=900, read_timeout=30))
        received: list[StreamChunk | ModelReply] = []

        async def consume() -> None:
            async for item in model.stream(PROMPT, []):
                received.append(item)
                if len(received) == 3:
                    os.kill(pid, signal.SIGKILL)

        with pytest.raises(ModelError, match="broke after"):
            await asyncio.wait_for(consume(), timeout=20)
        assert 3 <= len(received) < 900
        assert not any(isinstance(item, ModelReply) for item in received)
        await model.aclose()
    finally:
        server.stop()


async def test_demo_backend_starts_and_stops_its_own_server():
    require_llama_cpp()
    profile = ModelProfile(name="demo", backend="demo", model=DEFAULT_ALIAS, context_window=1024,
                           max_output_tokens=8, extra_body={"logit_bias": {EOS_ID: -100}})
    model = await create_model(profile)
    server = model.server
    try:
        assert model.banner == BANNER
        assert model.backend == "demo" and model.name == DEFAULT_ALIAS
        assert model.context_window == 1024
        reply = await complete(model, PROMPT, [])
        assert reply.content and reply.usage.completion_tokens == 8
        process = server.process
    finally:
        await model.aclose()
    assert process.poll() is not None  # the server process is gone
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base_url}/models", timeout=2, trust_env=False)
