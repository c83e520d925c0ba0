"""Decode and prefill speed of the in-process engine at Qwen3.5-397B's real layer dims, on one GPU.

A random-weight Qwen3.5-MoE with the real dims and 4 layers (3 Gated-DeltaNet + 1 attention, ~57 GB in
bf16). In one run it measures:
- copy bandwidth, and from it the memory-bandwidth floor per layer per token (active bytes / bandwidth);
- transformers' generate() ms per layer per token (the baseline) and ours (the captured decode step, with
  its pieces eager and through torch.compile);
- prefill tokens/s at 4k tokens;
- TTFT of an agent step (200 new tokens) at 1k, 16k and 64k context, with and without prefix reuse.
Per-layer figures subtract the LM head (final norm + 248,320-row projection), timed on its own, from a
whole step, for both engines alike. Prints one JSON object.

    python evals/bench_decode.py [--layers 4] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rioagent.models.engine import Engine, GenerationStats, SpecialIds
from rioagent.models.qwen35_runner import Qwen35Runner
from rioagent.models.sampling import SamplingParams

IM_START = 248_045
REAL_DIMS = dict(
    vocab_size=248_320,
    hidden_size=4096,
    num_attention_heads=32,
    num_key_value_heads=2,
    head_dim=256,
    linear_conv_kernel_dim=4,
    linear_key_head_dim=128,
    linear_value_head_dim=128,
    linear_num_key_heads=16,
    linear_num_value_heads=64,
    num_experts=512,
    num_experts_per_tok=10,
    moe_intermediate_size=1024,
    shared_expert_intermediate_size=1024,
    max_position_embeddings=262_144,
    tie_word_embeddings=False,
)


def build_model(layers: int, dims: dict):
    from transformers.models.qwen3_5_moe import Qwen3_5MoeForCausalLM, Qwen3_5MoeTextConfig

    kinds = [("full_attention" if (i + 1) % 4 == 0 else "linear_attention") for i in range(layers)]
    if "full_attention" not in kinds:
        kinds[-1] = "full_attention"
    config = Qwen3_5MoeTextConfig(
        num_hidden_layers=layers, layer_types=kinds, experts_implementation="grouped_mm", **dims
    )
    # Built on the meta device in bf16 and materialized on the GPU: 57 GB never exists in float32.
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device("meta"):
            model = Qwen3_5MoeForCausalLM(config)
    finally:
        torch.set_default_dtype(default)
    model = model.to_empty(device="cuda")
    rotary = model.model.rotary_emb
    inv_freq, _ = rotary.compute_default_rope_parameters(config, device="cuda")
    rotary.inv_freq = inv_freq.float()
    rotary.original_inv_freq = inv_freq.float().clone()
    gen = torch.Generator(device="cuda").manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.zero_() if p.dim() == 1 and "linear_attn.norm" not in name else p.fill_(1.0)
            elif name.endswith("A_log"):
                p.uniform_(0, 2.7, generator=gen)
            elif name.endswith("dt_bias"):
                p.fill_(1.0)
            else:
                p.normal_(0, 0.02, generator=gen)
    return model.eval(), config


def cuda_ms(fn, iters: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / iters


def copy_bandwidth() -> float:
    """Bytes per second moved by a device-to-device copy, counting bytes read and written."""
    src = torch.empty(2 * 1024**3, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    ms = cuda_ms(lambda: dst.copy_(src), iters=20)
    return 2 * 2 * 1024**3 / (ms / 1000)


def active_bytes(model, config, context: int) -> dict[str, float]:
    """Bytes one token reads per layer: the weights it touches (10 routed + the shared expert) plus state."""
    per_layer = []
    for layer, kind in zip(model.model.layers, config.layer_types, strict=True):
        dense = 0
        mixer = layer.linear_attn if kind == "linear_attention" else layer.self_attn
        dense += sum(p.numel() * p.element_size() for p in mixer.parameters())
        for norm in (layer.input_layernorm, layer.post_attention_layernorm):
            dense += sum(p.numel() * p.element_size() for p in norm.parameters())
        mlp = layer.mlp
        dense += sum(p.numel() * p.element_size() for p in mlp.gate.parameters())
        dense += sum(p.numel() * p.element_size() for p in mlp.shared_expert.parameters())
        dense += sum(p.numel() * p.element_size() for p in mlp.shared_expert_gate.parameters())
        experts = mlp.experts
        per_expert = (experts.gate_up_proj[0].numel() + experts.down_proj[0].numel()) * 2
        dense += config.num_experts_per_tok * per_expert
        if kind == "linear_attention":
            a = layer.linear_attn
            dense += 2 * a.num_v_heads * a.head_k_dim * a.head_v_dim * 4  # recurrent state read + written
        else:
            dense += 2 * config.num_key_value_heads * config.head_dim * context * 2  # K and V read
        per_layer.append(dense)
    return {"mean": statistics.mean(per_layer), "per_layer": per_layer}


def head_ms(model) -> float:
    hidden = torch.randn(1, model.config.hidden_size, dtype=torch.bfloat16, device="cuda")
    from rioagent.models.qwen35_layers import rms_norm

    def head():
        return model.lm_head(rms_norm(model.model.norm, hidden))[0].float()

    graph = torch.cuda.CUDAGraph()
    head()
    torch.cuda.synchronize()
    with torch.cuda.graph(graph):
        head()
    return cuda_ms(graph.replay, iters=50)


def hf_generate_ms(model, context: int, new_tokens: int) -> float:
    ids = torch.randint(0, 200_000, (1, context), device="cuda")
    kwargs = dict(do_sample=False, eos_token_id=None, pad_token_id=0, min_new_tokens=1)
    with torch.inference_mode():
        model.generate(ids, max_new_tokens=4, **kwargs)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        model.generate(ids, max_new_tokens=1, **kwargs)
        torch.cuda.synchronize()
        prefill = time.perf_counter() - t0
        t0 = time.perf_counter()
        model.generate(
            ids,
            max_new_tokens=new_tokens + 1,
            min_new_tokens=new_tokens + 1,
            do_sample=False,
            eos_token_id=None,
            pad_token_id=0,
        )
        torch.cuda.synchronize()
        total = time.perf_counter() - t0
    return (total - prefill) / new_tokens * 1000


def ours_decode_ms(runner: Qwen35Runner, context: int, steps: int) -> float:
    ids = torch.randint(0, 200_000, (context,), device="cuda")
    runner.reset()
    runner.prefill(runner.embed_ids(ids), 0)
    embed = runner.embed_ids([42])
    pos = [context]

    def step():
        runner.decode(embed, pos[0])
        pos[0] += 1

    return cuda_ms(step, iters=steps, warmup=3)


def engine_ms_per_token(engine: Engine, context: int, tokens: int) -> float:
    prompt = torch.randint(0, 200_000, (context,)).tolist()
    engine.cache.clear()
    engine.runner.reset()
    stats = GenerationStats()
    list(
        engine.generate(
            prompt,
            SamplingParams(temperature=0.6, top_p=0.95, top_k=20, seed=0),
            max_new_tokens=tokens,
            stats=stats,
        )
    )
    return (stats.seconds - stats.ttft_s) / max(1, stats.generated_tokens - 1) * 1000


def prefill_tokens_per_s(runner: Qwen35Runner, tokens: int) -> float:
    ids = torch.randint(0, 200_000, (tokens,), device="cuda")
    embeds = runner.embed_ids(ids)
    runner.reset()
    runner.prefill(embeds, 0)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    runner.prefill(embeds, 0)
    torch.cuda.synchronize()
    return tokens / (time.perf_counter() - t0)


def agent_prompt(context: int, seed: int) -> list[int]:
    """Random tokens with a message boundary every ~1k tokens, like a long agent conversation."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 200_000, (context,), generator=g).tolist()
    for at in range(0, context, 1000):
        ids[at] = IM_START
    return ids


def ttft(engine: Engine, context: int, new: int = 200) -> dict[str, float]:
    base = agent_prompt(context, 1)
    step = [*base, IM_START, *agent_prompt(new - 1, 2)[1:], IM_START]
    results = {}
    for reuse in (False, True):
        engine.cache.clear()
        engine.runner.reset()
        engine.prefill(base, GenerationStats())
        if not reuse:
            engine.cache.clear()
            engine.runner.reset()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        logits = engine.prefill(step, GenerationStats())
        int(logits.argmax())
        results["with_reuse_ms" if reuse else "without_reuse_ms"] = (time.perf_counter() - t0) * 1000
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="small contexts and dims, for a smoke run")
    args = parser.parse_args()
    torch.manual_seed(0)
    out: dict = {"device": torch.cuda.get_device_name(), "torch": torch.__version__}
    import transformers

    out["transformers"] = transformers.__version__
    bandwidth = copy_bandwidth()
    out["copy_bandwidth_TBps"] = round(bandwidth / 1e12, 3)
    dims = REAL_DIMS if not args.quick else {**REAL_DIMS, "num_experts": 64, "hidden_size": 1024}
    model, config = build_model(args.layers, dims)
    out["weights_GB"] = round(sum(p.numel() * p.element_size() for p in model.parameters()) / 1e9, 1)
    contexts = [1024, 4096] if args.quick else [1024, 16384, 65536]
    max_len = max(contexts) + 1024
    nbytes = active_bytes(model, config, context=1024)
    floor_ms = nbytes["mean"] / bandwidth * 1000
    out["active_MB_per_layer"] = [round(b / 1e6, 1) for b in nbytes["per_layer"]]
    out["floor_ms_per_layer"] = round(floor_ms, 4)
    head = head_ms(model)
    out["head_ms"] = round(head, 4)
    n = args.layers

    hf_step = hf_generate_ms(model, context=1024, new_tokens=32)
    out["hf_generate_ms_per_token"] = round(hf_step, 3)
    out["hf_generate_ms_per_layer"] = round((hf_step - head) / n, 4)

    runner = Qwen35Runner(model, max_len, graphs=True, chunk=4096)
    step = ours_decode_ms(runner, context=1024, steps=100)
    out["ours_ms_per_token"] = round(step, 4)
    out["ours_ms_per_layer"] = round((step - head) / n, 4)
    out["ours_over_floor"] = round((step - head) / n / floor_ms, 2)
    out["hf_over_floor"] = round((hf_step - head) / n / floor_ms, 2)
    eager = Qwen35Runner(model, max_len, graphs=False, chunk=4096)
    eager.states = runner.states  # share the (large) cache
    eager_step = ours_decode_ms(eager, context=1024, steps=20)
    out["ours_eager_ms_per_layer"] = round((eager_step - head) / n, 4)
    # The same captured step with its small kernels fused by torch.compile (`compile_decode = true`).
    compiled = Qwen35Runner(model, max_len, graphs=True, chunk=4096, compile=True)
    compiled.states = runner.states
    started = time.perf_counter()
    compiled_step = ours_decode_ms(compiled, context=1024, steps=100)
    out["compiled_first_use_s"] = round(time.perf_counter() - started, 1)
    out["compile_error"] = compiled.compile_error
    out["ours_compiled_ms_per_layer"] = round((compiled_step - head) / n, 4)
    out["ours_compiled_over_floor"] = round((compiled_step - head) / n / floor_ms, 2)
    del compiled
    print(json.dumps(out), file=sys.stderr, flush=True)  # what is known so far, should a time limit cut in
    engine = Engine(
        runner,
        SpecialIds(stop=frozenset(), message_start=IM_START),
        decode_text=lambda ids: "",
        encode_text=lambda text: [],
    )
    out["engine_ms_per_token_with_sampling"] = round(engine_ms_per_token(engine, 1024, 64), 4)
    out["prefill_tokens_per_s_4k"] = round(prefill_tokens_per_s(runner, 4096), 1)
    out["ttft_ms"] = {str(c): {k: round(v, 2) for k, v in ttft(engine, c).items()} for c in contexts}
    first, last = out["ttft_ms"][str(contexts[0])], out["ttft_ms"][str(contexts[-1])]
    out["ttft_reuse_growth"] = round(last["with_reuse_ms"] / first["with_reuse_ms"], 3)
    out["peak_memory_GB"] = round(torch.cuda.max_memory_allocated() / 1e9, 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
