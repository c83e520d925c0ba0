"""SwiReasoning in-process on a real model: SmolLM2-135M-Instruct (the built-in demo model) on the CPU,
through LocalModel, the same path `--think swi` takes.

SmolLM2 has no <think> tokens and no thinking training, so its template is given the clause Qwen3.5's
has (the generation prompt opens the thought), and `</think>` is several tokens in its vocabulary: the
engine must find the tag in the text, not by a token id."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from rioagent.config import ModelProfile
from rioagent.models.base import ModelError, complete
from rioagent.reasoning.swireasoning import SwiConfig
from rioagent.thinking import ThinkingTotals

OPEN_THOUGHT = (
    "{%- if add_generation_prompt and enable_thinking is defined and enable_thinking %}<think>\n{% endif %}"
)
STEP = [
    {"role": "system", "content": "You are a coding agent. Call finish when the task is done."},
    {"role": "user", "content": "Fix the failing test in tests/test_tokens.py."},
    {
        "role": "assistant",
        "content": "<tool_call>\n<function=bash>\n<parameter=command>\npytest -q\n"
        "</parameter>\n</function>\n</tool_call>",
    },
    {"role": "tool", "content": "5 passed in 0.09s"},
]
SAMPLING = {"temperature": 0.6, "top_p": 0.95, "top_k": 20, "seed": 0}


@pytest.fixture(scope="module")
def smollm():
    from rioagent.models.local import create_local_model
    from rioagent.models.smollm import BUILTIN

    try:
        from rioagent.models.demo import find_gguf

        find_gguf()
    except ModelError as exc:
        pytest.skip(str(exc))
    profile = ModelProfile(
        name="smol",
        backend="local",
        path=BUILTIN,
        max_output_tokens=24,
        sampling=dict(SAMPLING),
        context_window=2048,
    )
    model = asyncio.run(create_local_model(profile, think="on"))
    model.tokenizer.chat_template += OPEN_THOUGHT
    return model


async def reply_with(model, swi: SwiConfig | None, thinking: bool = True):
    model.swi, model.thinking = swi, thinking
    try:
        return await complete(model, STEP, [])
    finally:
        model.swi, model.thinking = None, True


def test_the_vocabulary_has_no_single_think_end_token(smollm):
    assert smollm.engine.special.think_end is None and smollm.engine.special.think is None
    assert len(smollm.tokenizer.encode("</think>", add_special_tokens=False)) > 1
    assert smollm.render(STEP, []).endswith("<|im_start|>assistant\n<think>\n")


async def test_swi_converges_on_a_real_model_and_the_step_reports_it(smollm):
    # window 0 and M = 1: the first entropy drop below step 0's converges; a real model drops fast.
    reply = await reply_with(smollm, SwiConfig(window=0, max_switches=1, max_new_tokens=24))
    figures = reply.thinking
    assert figures["mode"] == "swi" and figures["switches"] == 1 and figures["injections"] == ["</think>\n\n"]
    assert figures["latent_steps"] >= 1  # step 0 at least was fed the mixture
    thinking = figures["thinking_tokens"]
    tag = len(smollm.tokenizer.encode("</think>", add_special_tokens=False))
    assert tag < thinking < reply.usage.completion_tokens  # the thought ends with the tag; the answer follows
    assert reply.usage.reasoning_tokens == thinking
    assert "</think>" not in reply.reasoning and "</think>" not in reply.content and reply.content
    totals = ThinkingTotals()
    totals.add(figures)
    assert totals.to_dict()["steps_cut_short"] == 1 and totals.latent_steps == figures["latent_steps"]


async def test_plain_thinking_on_a_real_model_counts_every_token_of_an_unclosed_thought(smollm, monkeypatch):
    monkeypatch.setattr(smollm, "max_output_tokens", 12)
    reply = await reply_with(smollm, None)
    figures = reply.thinking
    assert figures["mode"] == "on" and figures["latent_steps"] == 0 and figures["injections"] == []
    # SmolLM2 never closes the thought it was not trained to have: all of it is thinking.
    assert figures["thinking_tokens"] == reply.usage.completion_tokens > 0
    assert reply.content == "" and reply.reasoning


async def test_switching_off_on_a_real_model_is_plain_decoding(smollm, monkeypatch):
    monkeypatch.setattr(smollm, "max_output_tokens", 12)
    plain = await reply_with(smollm, None, thinking=False)
    again = await reply_with(smollm, None, thinking=False)
    # A SwiConfig on a step without a thought never makes a controller: the same tokens, seed for seed.
    swi_off = await reply_with(smollm, SwiConfig(window=0, max_switches=1), thinking=False)
    assert plain.content == again.content == swi_off.content and plain.content
    assert swi_off.thinking["mode"] == "off" and swi_off.thinking["latent_steps"] == 0


async def test_the_step_after_a_latent_one_rolls_back_and_matches_a_fresh_prefill(smollm, monkeypatch):
    import torch

    from rioagent.models.engine import GenerationStats

    smollm.engine.cache.clear()  # only this step's snapshots: earlier tests' prompt ends would also match
    smollm.engine.runner.reset()
    monkeypatch.setattr(smollm, "max_output_tokens", 4)  # step 0 is latent whatever follows
    first = await reply_with(smollm, SwiConfig(max_new_tokens=4))
    assert first.thinking["latent_steps"] >= 1  # positions no token stands for: they cannot be reused
    answer = {"role": "assistant", "content": first.content or "ok"}
    following = [*STEP, answer, {"role": "user", "content": "go on"}]
    ids = smollm.tokenizer.encode(smollm.render(following, []), add_special_tokens=False)
    stats = GenerationStats()
    logits = smollm.engine.prefill(ids, stats)  # cuts the KV cache back to a message boundary
    assert 0 < stats.reused_tokens < len(ids)
    assert ids[stats.reused_tokens] == smollm.engine.special.message_start
    smollm.engine.cache.clear()
    smollm.engine.runner.reset()
    torch.testing.assert_close(logits, smollm.engine.prefill(ids, GenerationStats()), rtol=1e-4, atol=1e-4)
