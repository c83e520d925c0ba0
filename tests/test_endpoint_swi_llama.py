"""The endpoint approximation against the real llama.cpp server (llama-cpp-python) over SmolLM2-135M, with
the prompt rendered locally from SmolLM2's own chat template (the raw-completions resume path).

Checked for real: the streamed top-20 logprobs give an entropy estimate that brackets the exact
full-vocabulary entropy of the same weights run in-process; the cut happens where the controller says;
the second leg is exactly what the server generates for "first prompt + thought + </think>"."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

pytest.importorskip("transformers")

from rioagent.config import ModelProfile
from rioagent.models.base import complete
from rioagent.models.chat_messages import chat_messages
from rioagent.models.endpoint import EndpointModel
from rioagent.reasoning.endpoint_swi import SwiEndpointModel
from rioagent.reasoning.entropy import entropy_from_logits, entropy_from_top_logprobs, top_logprob_values
from rioagent.reasoning.swireasoning import SwiConfig
from tests.test_endpoint_swi import RecordingTransport
from tests.test_swireasoning_smollm import STEP

pytestmark = pytest.mark.llama_server

MAX_TOKENS = 32


@pytest.fixture(scope="module")
def smollm_tokenizer():
    from transformers import AutoTokenizer

    from rioagent.models.smollm import builtin_checkpoint

    return AutoTokenizer.from_pretrained(str(builtin_checkpoint()))


def renderer(tokenizer: Any):
    def render(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> str:
        text = tokenizer.apply_chat_template(
            chat_messages(messages, tools, tokenizer.chat_template),
            add_generation_prompt=True,
            tokenize=False,
        )
        return text + "<think>\n"  # open the thought, as Qwen3.5's template does with thinking on

    return render


def make(server, config: SwiConfig, transport: httpx.AsyncBaseTransport, tokenizer) -> SwiEndpointModel:
    profile = ModelProfile(
        name="llama",
        base_url=server.base_url,
        model=server.alias,
        max_output_tokens=MAX_TOKENS,
        sampling={"temperature": 0.0},
        max_retries=0,
    )
    return SwiEndpointModel(
        EndpointModel(profile, transport=transport), config, render_prompt=renderer(tokenizer)
    )


async def post_completion(server, prompt: str, **extra: Any) -> dict[str, Any]:
    body = {
        "prompt": prompt,
        "temperature": 0.0,
        "stream": False,
        "stop": ["<|im_end|>", "<|endoftext|>"],
        **extra,
    }
    async with httpx.AsyncClient(timeout=60, trust_env=False) as client:
        response = await client.post(f"{server.base_url}/completions", json=body)
    response.raise_for_status()
    return response.json()["choices"][0]


async def test_agent_step_converges_and_resumes_on_the_real_server(llama_server, smollm_tokenizer):
    transport = RecordingTransport()
    # window 0, M = 1: the first entropy drop below the first token's converges (SmolLM2 drops fast).
    model = make(llama_server, SwiConfig(window=0, max_switches=1), transport, smollm_tokenizer)
    try:
        reply = await complete(model, STEP, [])
    finally:
        await model.aclose()
    stats = model.last_stats
    assert stats["missing_logprobs"] == 0 and len(stats["entropies"]) == stats["steps"] >= 2
    assert all(math.isfinite(h) and h >= 0 for h in stats["entropies"])
    assert stats["entropies"][-1] < stats["entropies"][0]  # the drop that switched and converged
    assert stats["resumed"] and stats["switches"] == 1 and stats["injections"] == ["</think>\n\n"]
    assert reply.thinking["mode"] == "swi-endpoint" and reply.thinking["resumed"] is True
    assert reply.thinking["thinking_tokens"] == stats["thinking_tokens"] == stats["steps"]

    (path1, first), (path2, second) = transport.bodies
    assert path1 == path2 == "/v1/completions" and first["logprobs"] == 20 and "logprobs" not in second
    assert first["prompt"].startswith("<|im_start|>system\n") and first["prompt"].endswith("<think>\n")
    assert second["prompt"] == first["prompt"] + reply.reasoning + "</think>\n\n"
    assert second["max_tokens"] == MAX_TOKENS - stats["thinking_tokens"]
    # The resumed leg is what the server itself writes after the closed thought (greedy, not streamed).
    direct = await post_completion(llama_server, second["prompt"], max_tokens=second["max_tokens"])
    assert reply.content == direct["text"].lstrip("\n") and reply.content


async def test_streamed_entropy_estimate_brackets_the_exact_entropy_of_the_same_weights(
    llama_server, smollm_tokenizer
):
    import torch
    from transformers import AutoModelForCausalLM

    from rioagent.models.smollm import builtin_checkpoint

    prompt = renderer(smollm_tokenizer)(STEP, [])
    choice = await post_completion(llama_server, prompt, max_tokens=1, logprobs=20)
    top = top_logprob_values(choice["logprobs"]["top_logprobs"][0])
    assert len(top) == 20
    low = entropy_from_top_logprobs(top)
    high = entropy_from_top_logprobs(top, vocab_size=len(smollm_tokenizer))
    model = AutoModelForCausalLM.from_pretrained(str(builtin_checkpoint()), dtype=torch.float32).eval()
    ids = smollm_tokenizer.encode(prompt, add_special_tokens=False)
    with torch.inference_mode():
        exact = float(entropy_from_logits(model(torch.tensor([ids])).logits[0, -1]))
    # llama.cpp runs the quantized weights the checkpoint was dequantized from: allow a little slack.
    assert low - 0.05 <= exact <= high + 0.05
    # The lower bound, the one the controller uses, is the closer (measured: 2.44 <= 2.86 <= 3.95 nats).
    assert exact - low < high - exact


async def test_demo_backend_with_think_auto_goes_to_the_completions_path(llama_server, smollm_tokenizer):
    """`--think auto` on the demo backend: llama.cpp cannot continue a chat message, so the steps go to
    /v1/completions with the GGUF's own template rendered here, the same text transformers renders from
    the checkpoint's template. SmolLM2's template opens no thought: the reply is all answer (as the
    in-process engine gives for the same checkpoint), exactly what the server completes for that prompt."""
    from rioagent.models.factory import create_model

    profile = ModelProfile(
        name="demo", backend="demo", context_window=2048, max_output_tokens=MAX_TOKENS,
        sampling={"temperature": 0.0},
    )  # fmt: skip
    model = await create_model(profile, think="auto")
    try:
        assert isinstance(model, SwiEndpointModel) and model.render_prompt is not None
        tools = [{"type": "function", "function": {"name": "bash", "parameters": {"type": "object"}}}]
        for with_tools in ([], tools):
            expected = renderer(smollm_tokenizer)(STEP, with_tools).removesuffix("<think>\n")
            assert model.render_prompt(STEP, with_tools) == expected
        paths: list[str] = []
        open_stream = model.inner.open_stream

        async def recorded(body: dict[str, Any], *, path: str = "/chat/completions") -> Any:
            paths.append(path)
            return await open_stream(body, path=path)

        model.inner.open_stream = recorded  # type: ignore[method-assign]
        reply = await complete(model, STEP, [])
    finally:
        await model.aclose()
    assert paths == ["/completions"]
    assert reply.thinking["mode"] == "off" and reply.thinking["thinking_tokens"] == 0 and not reply.reasoning
    direct = await post_completion(llama_server, model.render_prompt(STEP, []), max_tokens=MAX_TOKENS)
    assert reply.content == direct["text"].strip() and reply.content
