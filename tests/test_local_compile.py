"""The decode step through torch.compile (Inductor, here its C++ backend on the CPU): the same logits as
the eager step, one compiled graph per layer kind whatever the layer count, and a failed compile falls back
to eager decoding with the reason kept."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from rioagent.models.qwen35_runner import Qwen35Runner  # noqa: E402
from tests.tiny_qwen import tiny_config  # noqa: E402


@pytest.fixture
def model():
    from transformers.models.qwen3_5_moe import Qwen3_5MoeForCausalLM

    torch.manual_seed(0)
    # Two of each kind: a second layer of a kind must reuse the first one's compiled graph.
    types = ["linear_attention", "full_attention"] * 2
    return Qwen3_5MoeForCausalLM(tiny_config(num_hidden_layers=4, layer_types=types)).eval()


@pytest.fixture
def fresh_dynamo():
    import torch._dynamo

    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def decoded_pairs(reference: Qwen35Runner, runner: Qwen35Runner, ids, start: int):
    """Both runners prefill ids[:start], then decode the rest one token at a time: the logits, in pairs."""
    for r in (reference, runner):
        r.prefill(r.embed_ids(ids[:start]), 0)
    for pos in range(start, len(ids)):
        step = ids[pos : pos + 1]
        yield reference.decode(reference.embed_ids(step), pos), runner.decode(runner.embed_ids(step), pos)


def test_compiled_decode_gives_the_eager_logits(model, fresh_dynamo):
    from torch._dynamo.utils import counters

    counters.clear()
    ids = torch.randint(0, 5000, (40,))
    eager, compiled = Qwen35Runner(model, 512), Qwen35Runner(model, 512, compile=True)
    for expected, got in decoded_pairs(eager, compiled, ids, 30):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    assert compiled.steps.compiled and compiled.compile_error == ""
    # DeltaNet layer, attention query, attention output: three graphs for four layers and ten steps.
    assert counters["stats"]["unique_graphs"] == 3


def test_grouped_experts_in_bf16_eager_and_compiled_agree_with_the_gather(fresh_dynamo, monkeypatch):
    """The GPU's expert path (grouped_mm, which runs on the CPU too) against the CPU's gather, eager and
    through torch.compile. bf16 roundings differ between the three, so they are compared by cosine."""
    from transformers.models.qwen3_5_moe import Qwen3_5MoeForCausalLM

    from rioagent.models import qwen35_layers
    from tests.tiny_qwen import sharpen_routers

    torch.manual_seed(0)
    dims = dict(num_experts=16, num_experts_per_tok=4, moe_intermediate_size=64)
    model = Qwen3_5MoeForCausalLM(tiny_config(hidden_size=128, **dims)).to(torch.bfloat16).eval()
    sharpen_routers(model)
    ids = torch.randint(0, 200_000, (60,))
    gather = Qwen35Runner(model, 512)
    monkeypatch.setattr(qwen35_layers, "GROUPED_DEVICES", ("cuda", "cpu"))
    grouped, compiled = Qwen35Runner(model, 512), Qwen35Runner(model, 512, compile=True)
    cosines: dict[str, list[float]] = {"grouped": [], "compiled": []}
    for runner in (gather, grouped, compiled):
        runner.prefill(runner.embed_ids(ids[:40]), 0)
    for pos in range(40, 60):
        step = ids[pos : pos + 1]
        expected = gather.decode(gather.embed_ids(step), pos)
        for name, runner in (("grouped", grouped), ("compiled", compiled)):
            got = runner.decode(runner.embed_ids(step), pos)
            cosines[name].append(torch.nn.functional.cosine_similarity(got[None], expected[None])[0].item())
    assert compiled.compile_error == ""
    for name, values in cosines.items():
        values.sort()
        assert values[0] > 0.99 and values[len(values) // 2] > 0.9999, (name, values[0], values[10])


def test_a_failed_compile_decodes_eagerly_and_says_why(model, fresh_dynamo, monkeypatch):
    import torch._inductor.config as inductor

    # A machine without a C++ compiler (Inductor's CPU backend needs one); no cached build may hide it.
    monkeypatch.setattr(inductor.cpp, "cxx", ("/nonexistent/c++",))
    monkeypatch.setattr(inductor, "force_disable_caches", True)
    ids = torch.randint(0, 5000, (20,))
    eager, runner = Qwen35Runner(model, 512), Qwen35Runner(model, 512, compile=True)
    for expected, got in decoded_pairs(eager, runner, ids, 10):
        # The failed attempt ran a step on the real state: it must have been put back.
        torch.testing.assert_close(got, expected)
    assert not runner.steps.compiled
    assert "compiler" in runner.compile_error.lower(), runner.compile_error


def test_compile_decode_from_the_config_runs_the_agent_compiled(tiny_qwen_dir, tmp_path, monkeypatch):
    from tests.test_local_model import run_cli

    workspace = tmp_path / "repo"
    workspace.mkdir()
    (workspace / ".rioagent.toml").write_text(
        "[models.local]\ncontext_window = 4096\nmax_output_tokens = 24\ncompile_decode = true\n"
    )
    inductor_cache = tmp_path / "inductor"  # Inductor writes what it compiled here: the proof it ran
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(inductor_cache))
    args = ["run", "Add a README", "--local", str(tiny_qwen_dir), "--output-format", "json"]
    proc = run_cli([*args, "--max-steps", "2"], workspace, tmp_path)
    result = json.loads(proc.stdout)
    assert result["status"] in ("error", "limit"), proc.stderr[-2000:]
    assert result["usage"]["completion_tokens"] > 0, (result, proc.stderr[-3000:])
    assert "decoding eagerly" not in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert any(inductor_cache.rglob("*.py")), "nothing was compiled"
