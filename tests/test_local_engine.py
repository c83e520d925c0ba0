"""The in-process engine on a tiny random Qwen3.5-MoE with the real tokenizer: our layers against
transformers' forward, prefix reuse against a full re-prefill, the decode loop against generate()."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from rioagent.models.engine import Engine, GenerationStats  # noqa: E402
from rioagent.models.loader import special_ids  # noqa: E402
from rioagent.models.prefix_cache import LATENT  # noqa: E402
from rioagent.models.qwen35_runner import Qwen35Runner  # noqa: E402
from rioagent.models.sampling import SamplingParams  # noqa: E402
from rioagent.reasoning.swireasoning import SwiConfig  # noqa: E402

GREEDY = SamplingParams(temperature=0.0)


@pytest.fixture(scope="module")
def tiny(tiny_qwen_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_qwen_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen_dir)
    return model, tokenizer


def make_engine(model, tokenizer, max_len=512, chunk=2048):
    runner = Qwen35Runner(model, max_len, chunk=chunk)
    return Engine(
        runner,
        special_ids(tokenizer, model.generation_config),
        decode_text=lambda ids: tokenizer.decode(ids, skip_special_tokens=False),
        encode_text=lambda text: tokenizer.encode(text, add_special_tokens=False),
    )


def prompt_ids(tokenizer, messages, thinking=True):
    text = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False, enable_thinking=thinking
    )
    return tokenizer.encode(text, add_special_tokens=False)


CONVERSATION = [
    {"role": "system", "content": "You are a coding agent."},
    {"role": "user", "content": "Fix the failing test in tests/test_parser.py, then finish."},
]


@torch.inference_mode()
def hf_logits(model, ids):
    return model(torch.tensor([ids])).logits[0].float()


def test_prefill_matches_transformers_forward(tiny):
    model, tokenizer = tiny
    ids = prompt_ids(tokenizer, CONVERSATION)
    runner = Qwen35Runner(model, 512, chunk=16)  # several chunks: state carried across them
    ours = runner.prefill(runner.embed_ids(ids), 0)
    torch.testing.assert_close(ours, hf_logits(model, ids)[-1], rtol=1e-4, atol=1e-4)


def test_decode_steps_match_transformers_forward(tiny):
    model, tokenizer = tiny
    ids = prompt_ids(tokenizer, CONVERSATION)
    reference = hf_logits(model, ids)
    runner = Qwen35Runner(model, 512)
    runner.prefill(runner.embed_ids(ids[:10]), 0)
    for pos in range(10, len(ids)):
        logits = runner.decode(runner.embed_ids(ids[pos : pos + 1]), pos)
        torch.testing.assert_close(logits, reference[pos], rtol=1e-4, atol=1e-4)


def test_bf16_decode_agrees_with_transformers_forward():
    """In bf16 every rounding the checkpoint's reference code does must be ours too (the DeltaNet write
    strength was once computed in float32: the state drifted, a cosine of 0.96 at some positions)."""
    from tests.tiny_qwen import random_bf16_model

    model = random_bf16_model()
    ids = torch.randint(0, 200_000, (1, 300))
    reference = hf_logits(model, ids[0].tolist())
    runner = Qwen35Runner(model, 1024, chunk=64)

    def cosine(a, b):
        return torch.nn.functional.cosine_similarity(a.float()[None], b[None])[0].item()

    assert cosine(runner.prefill(runner.embed_ids(ids[0, :200]), 0), reference[199]) > 0.9999
    decoded = [
        cosine(runner.decode(runner.embed_ids(ids[0, pos : pos + 1]), pos), reference[pos])
        for pos in range(200, 300)
    ]
    assert min(decoded) > 0.999 and sorted(decoded)[50] > 0.9999, (min(decoded), sorted(decoded)[50])


def test_greedy_decoding_matches_generate(tiny):
    model, tokenizer = tiny
    ids = prompt_ids(tokenizer, CONVERSATION)
    expected = model.generate(
        torch.tensor([ids]), max_new_tokens=12, do_sample=False, eos_token_id=None, pad_token_id=0
    )[0, len(ids) :].tolist()
    engine = make_engine(model, tokenizer)
    got = [t.id for t in engine.generate(ids, GREEDY, max_new_tokens=12)]
    stops = engine.special.stop
    cut = next((i + 1 for i, t in enumerate(expected) if t in stops), len(expected))
    assert got == expected[:cut]


def test_prefix_reuse_gives_the_logits_of_a_full_prefill(tiny):
    model, tokenizer = tiny
    engine = make_engine(model, tokenizer)
    first = prompt_ids(tokenizer, CONVERSATION)
    reply = [t.id for t in engine.generate(first, GREEDY, max_new_tokens=8)]
    text = tokenizer.decode(reply, skip_special_tokens=True)
    # The next step's prompt: the assistant turn re-rendered by the template (not the sampled tokens).
    grown = [
        *CONVERSATION,
        {"role": "assistant", "content": text or "ok", "reasoning_content": "look first"},
        {"role": "user", "content": "<tool_response>\nok\n</tool_response>"},
    ]
    second = prompt_ids(tokenizer, grown)
    stats = GenerationStats()
    reused = engine.prefill(second, stats)
    assert 0 < stats.reused_tokens < len(second)
    assert stats.prefilled_tokens == len(second) - stats.reused_tokens
    fresh = make_engine(model, tokenizer).prefill(second, GenerationStats())
    torch.testing.assert_close(reused, fresh, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(reused, hf_logits(model, second)[-1], rtol=1e-4, atol=1e-4)


def test_one_pass_prefills_every_message_and_snapshots_each_boundary(tiny):
    model, tokenizer = tiny
    engine = make_engine(model, tokenizer, chunk=16)  # chunks of 16: boundaries fall inside chunks
    messages = [*CONVERSATION, {"role": "assistant", "content": "ok"}, {"role": "user", "content": "go"}]
    ids = prompt_ids(tokenizer, messages)
    heads, passes = [], []
    hooks = [
        model.lm_head.register_forward_hook(lambda *_: heads.append(1)),
        model.model.layers[0].linear_attn.in_proj_qkv.register_forward_hook(lambda *_: passes.append(1)),
    ]
    try:
        logits = engine.prefill(ids, GenerationStats())
    finally:
        for hook in hooks:
            hook.remove()
    reference = hf_logits(model, ids)
    torch.testing.assert_close(logits, reference[-1], rtol=1e-4, atol=1e-4)
    assert len(heads) == 1
    assert len(passes) == -(-len(ids) // 16)  # one pass: each chunk through the layer once
    positions = engine.cache.snapshot_positions
    assert len(positions) >= 4 and positions[-1] == len(ids)
    # Each snapshot is the state after exactly its prefix: resuming from it gives the full forward's logits.
    runner = engine.runner
    for pos in positions[:-1]:
        runner.restore(engine.cache._snapshots[pos])
        resumed = runner.prefill(runner.embed_ids(ids[pos:]), pos)
        torch.testing.assert_close(resumed, reference[-1], rtol=1e-4, atol=1e-4)


def test_divergent_prompt_rolls_back_to_a_message_boundary(tiny):
    model, tokenizer = tiny
    engine = make_engine(model, tokenizer)
    first = prompt_ids(tokenizer, [*CONVERSATION, {"role": "user", "content": "and add a docstring"}])
    engine.prefill(first, GenerationStats())
    # Same system and first user turn, then a different second user turn: divergence mid-conversation.
    second = prompt_ids(tokenizer, [*CONVERSATION, {"role": "user", "content": "no, add a test"}])
    stats = GenerationStats()
    logits = engine.prefill(second, stats)
    im_start = tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert second[stats.reused_tokens] == im_start  # rolled back exactly to a message start
    assert stats.reused_tokens > len(prompt_ids(tokenizer, CONVERSATION[:1], thinking=True)) // 2
    torch.testing.assert_close(logits, hf_logits(model, second)[-1], rtol=1e-4, atol=1e-4)


def test_same_seed_same_tokens_and_switching_off_is_plain_decoding(tiny):
    model, tokenizer = tiny
    ids = prompt_ids(tokenizer, CONVERSATION)
    params = SamplingParams(temperature=1.0, top_p=0.95, top_k=50, seed=7)
    a = [t.id for t in make_engine(model, tokenizer).generate(ids, params, max_new_tokens=24)]
    b = [t.id for t in make_engine(model, tokenizer).generate(ids, params, max_new_tokens=24)]
    assert a == b
    # The reference plain loop: full prefill, sample, feed the token, nothing else.
    from rioagent.models.sampling import sample

    runner = Qwen35Runner(model, 512)
    generator = torch.Generator().manual_seed(7)
    logits, plain = runner.prefill(runner.embed_ids(ids), 0), []
    stop = special_ids(tokenizer, model.generation_config).stop
    for pos in range(len(ids), len(ids) + 24):
        token = int(sample(logits, params, generator))
        plain.append(token)
        if token in stop:
            break
        logits = runner.decode(runner.embed_ids([token]), pos)
    assert a == plain
    c = [t.id for t in make_engine(model, tokenizer).generate(ids, params, max_new_tokens=24, swi=None)]
    assert c == plain


def test_swireasoning_latent_steps_mark_the_cache_and_roll_back_next_step(tiny):
    model, tokenizer = tiny
    engine = make_engine(model, tokenizer)
    ids = prompt_ids(tokenizer, CONVERSATION)
    stats = GenerationStats()
    config = SwiConfig(window=4, max_switches=2, max_new_tokens=64)
    tokens = list(engine.generate(ids, GREEDY, max_new_tokens=40, swi=config, stats=stats))
    assert stats.mode == "swi"
    assert stats.latent_steps >= 1  # step 0 is always latent
    assert tokens[0].latent
    fed = engine.cache.tokens[len(ids) :]
    assert fed[0] == LATENT
    assert [t for t in fed if t != LATENT] == [t.id for t in tokens if not t.latent][
        : len(fed) - fed.count(LATENT)
    ]
    # Next step: the cache cannot match past the first latent position: it returns to the prompt's end.
    text = tokenizer.decode([t.id for t in tokens], skip_special_tokens=True)
    grown = prompt_ids(
        tokenizer,
        [*CONVERSATION, {"role": "assistant", "content": text or "ok"}, {"role": "user", "content": "go on"}],
    )
    again = GenerationStats()
    logits = engine.prefill(grown, again)
    assert again.reused_tokens <= len(ids)
    torch.testing.assert_close(logits, hf_logits(model, grown)[-1], rtol=1e-4, atol=1e-4)


def test_swireasoning_convergence_injects_end_of_thought_and_locks(tiny):
    model, tokenizer = tiny
    engine = make_engine(model, tokenizer)
    ids = prompt_ids(tokenizer, CONVERSATION)
    stats = GenerationStats()
    # window 0 and one allowed switch: the first LATENT -> EXPLICIT switch already converges.
    config = SwiConfig(window=0, max_switches=1, max_new_tokens=64)
    params = SamplingParams(temperature=1.0, top_k=0, top_p=1.0, seed=3)
    tokens = list(engine.generate(ids, params, max_new_tokens=120, swi=config, stats=stats))
    if not stats.injections:
        pytest.skip("the random model never lowered its entropy below the first step's in 120 tokens")
    injected = [t.id for t in tokens if t.injected]
    assert tokenizer.decode(injected) == "</think>\n\n"
    end_think = tokenizer.convert_tokens_to_ids("</think>")
    after = tokens[[t.id for t in tokens].index(end_think) + 1 :]
    assert not any(t.latent for t in after)  # locked: explicit from then on
    assert stats.thinking_tokens <= [t.id for t in tokens].index(end_think) + 1
