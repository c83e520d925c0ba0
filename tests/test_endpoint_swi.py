"""SwiEndpointModel: stop-and-resume driven by streamed logprobs.

Against the scripted fake server (exact, deterministic entropies) and the real llama.cpp server over
SmolLM2-135M (logprobs arrive, entropies are computed, a stop + resume round trip works)."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import pytest

from rioagent.config import ModelProfile
from rioagent.messages import ModelReply
from rioagent.models.base import Model, StreamChunk
from rioagent.models.endpoint import EndpointModel
from rioagent.models.think_split import ThinkSplitter
from rioagent.reasoning.endpoint_swi import SwiEndpointModel
from rioagent.reasoning.swireasoning import SwiConfig
from rioagent.thinking import ThinkingTotals
from tests.fake_openai_server import DEFAULT_MODEL, qwen_tool_call

USER = [{"role": "user", "content": "List the files."}]
MAX_TOKENS = 100
_open: list[SwiEndpointModel] = []


@pytest.fixture(autouse=True)
async def close_models():
    yield
    while _open:
        await _open.pop().aclose()


def make(
    base_url: str, config: SwiConfig, *, transport: httpx.AsyncBaseTransport | None = None, **kwargs: Any
) -> SwiEndpointModel:
    profile = ModelProfile(
        name="t",
        base_url=base_url,
        model=kwargs.pop("model", DEFAULT_MODEL),
        max_output_tokens=kwargs.pop("max_tokens", MAX_TOKENS),
        max_retries=0,
        sampling=kwargs.pop("sampling", {"temperature": 0.6}),
    )
    model = SwiEndpointModel(EndpointModel(profile, transport=transport), config, **kwargs)
    _open.append(model)
    return model


def uniform(n: int) -> list[float]:
    """Top logprobs of a uniform distribution over n tokens: its entropy is exactly ln n."""
    return [-math.log(n)] * n


def pieces(prefix: str, count: int) -> str:
    """`count` 4-character pieces (the fake server streams 4 characters per chunk, one token each)."""
    return "".join(f"{prefix}{i:02d} " for i in range(count))


async def collect(model: Model, messages: list[dict] = USER) -> tuple[list[StreamChunk], ModelReply]:
    items = [item async for item in model.stream(messages, [])]
    assert isinstance(items[-1], ModelReply) and all(isinstance(i, StreamChunk) for i in items[:-1])
    return items[:-1], items[-1]


# -- chat completions, continued assistant message ---------------------------------------------------
async def test_converges_by_stopping_and_continuing_the_assistant_message(fake_server):
    answer = qwen_tool_call("bash", command="ls")
    server = fake_server(
        [
            # H: ln10 (ref), ln12, ln5 < ln10 -> first switch = M -> converge after the 3rd token.
            {
                "reasoning": pieces("r", 8),
                "content": "never sent",
                "logprobs": [uniform(n) for n in (10, 12, 5, 3)],
            },
            {"reasoning": "more ", "content": answer},
        ]
    )
    model = make(server.base_url, SwiConfig(window=2, max_switches=1))
    assert isinstance(model, Model)
    chunks, reply = await collect(model)

    first, second = server.requests
    assert first["logprobs"] is True and first["top_logprobs"] == 20
    assert second["continue_final_message"] is True and second["add_generation_prompt"] is False
    assert second["messages"][:-1] == USER
    # Written as Qwen's template re-renders a thought (newlines stripped), so vLLM finds it to continue.
    assert second["messages"][-1] == {"role": "assistant", "content": "<think>\nr00 r01 r02 \n</think>\n\n"}
    assert second["max_tokens"] == MAX_TOKENS - 3 and "logprobs" not in second

    assert reply.reasoning == "r00 r01 r02 "
    assert reply.content == "more " + answer  # the second leg is all answer, whatever field it came in
    assert "".join(c.text for c in chunks if c.kind == "reasoning") == reply.reasoning
    assert "".join(c.text for c in chunks if c.kind == "content") == reply.content
    stats = model.last_stats
    assert stats["mode"] == "swi-endpoint" and stats["resumed"] is True
    assert stats["thinking_tokens"] == 3 and stats["switches"] == 1
    assert stats["injections"] == ["</think>\n\n"]
    assert stats["entropies"] == pytest.approx([math.log(10), math.log(12), math.log(5)])
    assert reply.usage.reasoning_tokens == 3 and reply.usage.completion_tokens >= 3
    # The step's figures ride on the reply, so the agent's event and the session totals see the cut.
    assert reply.thinking == {
        "mode": "swi-endpoint",
        "thinking_tokens": 3,
        "latent_steps": 0,
        "switches": 1,
        "injections": ["</think>\n\n"],
        "resumed": True,
        "terminated": False,
    }
    totals = ThinkingTotals()
    totals.add(reply.thinking)
    assert totals.to_dict()["steps_cut_short"] == 1


async def test_window_delays_the_second_switch_until_w_explicit_steps(fake_server):
    # window 2, M 2: ln10 ref; ln8 -> explicit (1); ln9 inside the window; ln9 -> latent; ln3 -> switch 2.
    sizes = (10, 8, 9, 9, 3, 2)
    server = fake_server(
        [
            {"reasoning": pieces("w", 8), "logprobs": [uniform(n) for n in sizes]},
            {"content": "done"},
        ]
    )
    model = make(server.base_url, SwiConfig(window=2, max_switches=2))
    _, reply = await collect(model)
    assert reply.reasoning == pieces("w", 5) and reply.content == "done"
    assert model.last_stats["switches"] == 2 and model.last_stats["latent_steps"] == 2


async def test_no_cut_when_entropy_never_drops(fake_server):
    server = fake_server(
        [
            {
                "reasoning": pieces("t", 4),
                "content": "answer",
                "logprobs": [uniform(n) for n in (2, 3, 4, 5, 1, 1)],
            }
        ]
    )
    model = make(server.base_url, SwiConfig(window=0, max_switches=1))
    _, reply = await collect(model)
    assert len(server.requests) == 1
    assert (reply.reasoning, reply.content) == (pieces("t", 4), "answer")
    stats = model.last_stats
    assert stats["resumed"] is False and stats["switches"] == 0 and stats["thinking_tokens"] == 4
    # The low entropies of the answer tokens are not scored: the thought ended with the first content.
    assert len(stats["entropies"]) == 4


async def test_without_logprobs_it_streams_through_and_says_so(fake_server):
    server = fake_server([{"reasoning": pieces("t", 3), "content": "ok"}])
    model = make(server.base_url, SwiConfig(window=0, max_switches=1))
    _, reply = await collect(model)
    assert reply.content == "ok" and len(server.requests) == 1
    assert model.last_stats["missing_logprobs"] == 3 and model.last_stats["entropies"] == []


# -- raw completions over a locally rendered prompt --------------------------------------------------
def chatml(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> str:
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return turns + "<|im_start|>assistant\n<think>\n"


async def test_completions_mode_resumes_with_the_raw_thought_and_think_end(fake_server):
    server = fake_server(
        [
            {"text": pieces("c", 6) + "</think>\n\nnot reached", "logprobs": [uniform(n) for n in (6, 7, 2)]},
            {"text": "\n\nthe answer"},
        ]
    )
    model = make(server.base_url, SwiConfig(window=4, max_switches=1), render_prompt=chatml)
    chunks, reply = await collect(model)

    first, second = server.requests
    assert first["prompt"] == chatml(USER, []) and first["logprobs"] == 20 and first["stream"] is True
    assert "<|im_end|>" in first["stop"] and "messages" not in first
    assert second["prompt"] == chatml(USER, []) + "c00 c01 c02 </think>\n\n"
    assert "logprobs" not in second and second["max_tokens"] == MAX_TOKENS - 3
    assert (reply.reasoning, reply.content) == ("c00 c01 c02 ", "the answer")
    assert [c.kind for c in chunks] == sorted((c.kind for c in chunks), key=lambda k: k == "content")
    assert model.last_stats["injections"] == ["</think>\n\n"] and model.last_stats["resumed"] is True
    assert reply.thinking["mode"] == "swi-endpoint" and reply.thinking["injections"] == ["</think>\n\n"]
    assert reply.thinking["thinking_tokens"] == 3 and reply.thinking["resumed"] is True


async def test_completions_mode_splits_a_natural_thought_end(fake_server):
    text = "plan it</think>\n\n" + qwen_tool_call("bash", command="pwd")
    server = fake_server([{"text": text, "logprobs": [uniform(n) for n in range(2, 20)]}])
    model = make(server.base_url, SwiConfig(window=0, max_switches=1), render_prompt=chatml)
    _, reply = await collect(model)
    assert len(server.requests) == 1
    assert reply.reasoning == "plan it" and reply.content == qwen_tool_call("bash", command="pwd")
    # "plan", " it<", "/thi", "nk>\n": the token that closes the tag is the thought's last.
    assert model.last_stats["resumed"] is False and model.last_stats["thinking_tokens"] == 4
    assert reply.thinking["thinking_tokens"] == 4 and reply.thinking["injections"] == []
    assert reply.thinking["mode"] == "swi-endpoint" and reply.thinking["resumed"] is False


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7])
def test_think_splitter_handles_the_tag_cut_anywhere(size: int):
    text = "a</thin>b</think>\n\nanswer </think> stays"
    split = ThinkSplitter(in_thought=True)
    for i in range(0, len(text), size):
        split.feed(text[i : i + size])
    split.flush()
    assert split.reasoning == "a</thin>b" and split.content == "answer </think> stays"


# -- the real llama.cpp server -----------------------------------------------------------------------
class RecordingTransport(httpx.AsyncBaseTransport):
    """The real HTTP transport, keeping each request body so the test can read what was sent."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.bodies: list[tuple[str, dict[str, Any]]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.bodies.append((request.url.path, json.loads(await request.aread())))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.llama_server
async def test_real_llama_server_stop_and_resume_round_trip(llama_server):
    transport = RecordingTransport()
    # Greedy, so the run is the same every time; window 0 and M = 1: the first entropy drop converges.
    model = make(
        llama_server.base_url,
        SwiConfig(window=0, max_switches=1),
        transport=transport,
        model=llama_server.alias,
        max_tokens=24,
        sampling={"temperature": 0.0},
        render_prompt=chatml,
    )
    messages = [{"role": "user", "content": "Think step by step: what is 17 + 25?"}]
    _, reply = await collect(model, messages)

    stats = model.last_stats
    assert stats["missing_logprobs"] == 0 and stats["entropies"]
    assert all(math.isfinite(h) and h >= 0 for h in stats["entropies"])
    assert any(h > 0.01 for h in stats["entropies"])  # real distributions, not one-hot
    assert stats["resumed"] is True and stats["switches"] == 1 and stats["injections"] == ["</think>\n\n"]
    assert 2 <= stats["thinking_tokens"] < 24
    (path1, first), (path2, second) = transport.bodies
    assert path1 == path2 == "/v1/completions" and first["logprobs"] == 20
    assert second["prompt"].startswith(first["prompt"]) and second["prompt"].endswith("</think>\n\n")
    thought = second["prompt"][len(first["prompt"]) : -len("</think>\n\n")]
    assert thought == reply.reasoning and thought
    assert second["max_tokens"] == 24 - stats["thinking_tokens"]
    assert reply.usage.completion_tokens == stats["thinking_tokens"] + stats["answer_tokens"]
    assert 0 < stats["answer_tokens"] <= second["max_tokens"]  # the resumed leg keeps to what was left


@pytest.mark.llama_server
async def test_real_llama_server_chat_logprobs_arrive_per_token(llama_server):
    # llama-cpp-python does not split out a thought, so everything is answer: streamed through untouched.
    model = make(
        llama_server.base_url,
        SwiConfig(window=0, max_switches=1),
        model=llama_server.alias,
        max_tokens=6,
        sampling={"temperature": 0.0},
    )
    _, reply = await collect(model, [{"role": "user", "content": "Say hi."}])
    assert reply.content and model.last_stats["resumed"] is False
    assert model.last_stats["answer_tokens"] == 6 and model.last_stats["thinking_tokens"] == 0


# -- through the agent: per-step figures on every assistant event, the session's totals -----------------
async def test_agent_events_carry_each_steps_figures_and_the_totals_credit_the_cut(fake_server, tmp_path):
    from rioagent.agent import Agent
    from rioagent.config import Settings
    from rioagent.events import AssistantMessage, Finished
    from tests.scripted_model import xml_call

    natural = pieces("n", 12)  # step 2 thinks 12 tokens and ends its thought on its own
    server = fake_server(
        [
            # step 1: the entropy drops at the 3rd token: M = 1 converges; the resumed leg writes the call.
            {"reasoning": pieces("r", 8), "logprobs": [uniform(n) for n in (10, 12, 5, 3)]},
            {"content": xml_call("bash", command="echo checked")},
            {
                "reasoning": natural,
                "content": xml_call("finish", summary="done"),
                "logprobs": [uniform(n) for n in range(2, 40)],
            },
        ]
    )
    model = make(server.base_url, SwiConfig(window=2, max_switches=1))
    (tmp_path / "repo").mkdir()
    agent = Agent(
        model,
        Settings(approval="auto", think="auto"),
        tmp_path / "repo",
        session_id="swi",
        state_dir=tmp_path / "state",
    )
    events = [event async for event in agent.run("check it")]

    steps = [e.thinking for e in events if isinstance(e, AssistantMessage)]
    assert [s["mode"] for s in steps] == ["swi-endpoint", "swi-endpoint"]
    assert [s["thinking_tokens"] for s in steps] == [3, 12]
    assert [s["injections"] for s in steps] == [["</think>\n\n"], []]
    assert [s["switches"] for s in steps] == [1, 0] and all("latent_steps" in s for s in steps)
    (finished,) = [e for e in events if isinstance(e, Finished)]
    assert finished.status == "done" and finished.summary == "done"
    # The cut thought is credited with the difference to the natural one: an estimate, named as such.
    assert finished.thinking == {
        "thinking_tokens": 15,
        "latent_steps": 0,
        "switches": 1,
        "steps_cut_short": 1,
        "saved_estimate": 12 - 3,
    }
