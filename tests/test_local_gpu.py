"""The in-process engine on a GPU: captured decode against eager, bf16 against transformers, prefix reuse
in bf16, and a model split between the GPU and the CPU. Skipped without CUDA; run with the device tool."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

from rioagent.config import ModelProfile  # noqa: E402
from rioagent.models.engine import Engine, GenerationStats  # noqa: E402
from rioagent.models.loader import load_checkpoint, special_ids  # noqa: E402
from rioagent.models.qwen35_runner import Qwen35Runner  # noqa: E402
from tests.tiny_qwen import random_bf16_model  # noqa: E402


def random_model(**overrides):
    return random_bf16_model("cuda", **overrides)


def agree(a, b, min_cos=0.999):
    cos = torch.nn.functional.cosine_similarity(a.float()[None], b.float()[None])[0]
    assert cos > min_cos, f"cosine {cos:.5f}"


@pytest.mark.parametrize("compile", [False, True], ids=["eager-step", "compiled-step"])
def test_captured_decode_equals_eager_across_buckets(compile):
    model = random_model()
    ids = torch.randint(0, 200_000, (300,), device="cuda")
    graphed = Qwen35Runner(model, 1024, graphs=True, compile=compile)
    eager = Qwen35Runner(model, 1024, graphs=False)
    assert graphed.use_graphs
    for runner in (graphed, eager):
        runner.prefill(runner.embed_ids(ids[:200]), 0)
    cosines = []
    for pos in range(200, 300):  # crosses the 256 bucket boundary: two graphs
        a = graphed.decode(graphed.embed_ids(ids[pos : pos + 1]), pos).clone()
        b = eager.decode(eager.embed_ids(ids[pos : pos + 1]), pos)
        if compile:  # Inductor rounds bf16 where it likes: the same logits up to that
            cosines.append(torch.nn.functional.cosine_similarity(a[None], b[None])[0].item())
        else:
            torch.testing.assert_close(a, b, rtol=2e-2, atol=2e-2)
    if compile:
        cosines.sort()
        assert cosines[0] > 0.99 and cosines[50] > 0.9999, (cosines[0], cosines[50])
    assert sorted(graphed.segments[0].graphs) == [256, 512]
    assert graphed.compile_error == ""
    assert graphed.steps.compiled == compile


def test_bf16_layers_agree_with_transformers_on_gpu():
    model = random_model()
    ids = torch.randint(0, 200_000, (1, 700), device="cuda")
    with torch.inference_mode():
        reference = model(ids).logits[0].float()
    runner = Qwen35Runner(model, 1024, chunk=256)
    agree(runner.prefill(runner.embed_ids(ids[0, :600]), 0), reference[599])
    for pos in range(600, 700):
        agree(runner.decode(runner.embed_ids(ids[0, pos : pos + 1]), pos), reference[pos])


def test_prefix_reuse_in_bf16_matches_a_full_prefill(tiny_qwen_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen_dir)
    model = random_model()

    def engine():
        return Engine(
            Qwen35Runner(model, 2048),
            special_ids(tokenizer, model.generation_config),
            decode_text=tokenizer.decode,
            encode_text=tokenizer.encode,
        )

    def render(messages):
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return tokenizer.encode(text, add_special_tokens=False)

    convo = [{"role": "system", "content": "agent " * 100}, {"role": "user", "content": "task " * 50}]
    warm = engine()
    warm.prefill(render(convo), GenerationStats())
    grown = [*convo, {"role": "assistant", "content": "calling a tool"}, {"role": "user", "content": "ok"}]
    stats = GenerationStats()
    reused = warm.prefill(render(grown), stats)
    assert stats.reused_tokens > 100
    agree(reused, engine().prefill(render(grown), GenerationStats()), min_cos=0.9999)


def test_split_between_gpu_and_cpu_runs_and_agrees(tiny_qwen_dir):
    whole = load_checkpoint(
        ModelProfile(
            name="t",
            backend="local",
            path=str(tiny_qwen_dir),
            dtype="float32",
            device_map="cpu",
            context_window=1024,
        )
    )
    split = load_checkpoint(
        ModelProfile(
            name="t",
            backend="local",
            path=str(tiny_qwen_dir),
            dtype="float32",
            context_window=1024,
            max_memory={"0": "40MiB", "cpu": "8GiB"},
        )
    )
    devices = {p.device.type for p in split.model.parameters()}
    assert devices == {"cuda", "cpu"}, devices
    assert len(split.runner.segments) >= 2 and not split.runner.use_graphs
    ids = list(range(1000, 1400))
    a = whole.runner.prefill(whole.runner.embed_ids(ids), 0)
    b = split.runner.prefill(split.runner.embed_ids(ids), 0)
    torch.testing.assert_close(a, b.cpu(), rtol=1e-3, atol=1e-3)
    a = whole.runner.decode(whole.runner.embed_ids([7]), 400)
    b = split.runner.decode(split.runner.embed_ids([7]), 400)
    torch.testing.assert_close(a, b.cpu(), rtol=1e-3, atol=1e-3)
