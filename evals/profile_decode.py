"""Where a decode step's time goes, at the real layer dims: each part of a layer captured in a CUDA graph
and timed against the bytes it must read, plus the top kernels of an eager step. A diagnostic for
bench_decode.py; prints JSON.

    python evals/profile_decode.py
"""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_decode import REAL_DIMS, build_model, copy_bandwidth, cuda_ms

from rioagent.models import qwen35_layers as L
from rioagent.models.qwen35_runner import Qwen35Runner


def graphed_ms(fn, iters: int = 50) -> float:
    fn()
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        fn()
    torch.cuda.current_stream().wait_stream(stream)
    with torch.cuda.graph(graph):
        fn()
    return cuda_ms(graph.replay, iters)


def progress(out: dict) -> None:
    """What is known so far, to stderr: a time limit that cuts the run short leaves these behind."""
    print(json.dumps(out), file=sys.stderr, flush=True)


def nbytes(module: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters())


def kernel_table(runner: Qwen35Runner, steps: int = 5) -> dict:
    """The kernels of un-captured decode steps: how many, and where the device time goes."""
    from torch.profiler import ProfilerActivity, profile

    embed = runner.embed_ids([5])
    for _ in range(3):
        runner.decode(embed, 1100)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            runner.decode(embed, 1100)
        torch.cuda.synchronize()
    events = prof.key_averages()
    rows = [
        {
            "kernel": e.key[:90],
            "calls_per_step": e.count // steps,
            "us_per_step": round(e.device_time_total / steps, 1),
        }
        for e in sorted(events, key=lambda e: -e.device_time_total)[:25]
    ]
    return {
        "kernel_us_per_step": round(sum(e.device_time_total for e in events) / steps, 1),
        "kernels_per_step": sum(e.count for e in events) // steps,
        "top_kernels": rows,
    }


def attention_prefill_by_context(attn: torch.nn.Module, inv_freq: torch.Tensor, new: int = 200) -> dict:
    """An agent step's attention prefill (200 new tokens) after 1k and after 64k of context, with each SDPA
    backend forced: where TTFT's growth with context comes from, and which kernel the default picks."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    kv_heads, d = attn.config.num_key_value_heads, attn.head_dim
    keys = torch.randn(kv_heads, 66_000, d, dtype=torch.bfloat16, device="cuda")
    state = L.AttentionState(keys, keys.clone())
    x = torch.randn(new, attn.config.hidden_size, dtype=torch.bfloat16, device="cuda")
    out: dict = {}
    for start in (1024, 65_536):
        positions = torch.arange(start, start + new, device="cuda")
        run = partial(
            L.attention_prefill, attn, x, state, start, *L.rope_tables(inv_freq, 1.0, positions, x.dtype)
        )
        row = {}
        for name, backends in (
            ("default", None),
            ("flash", [SDPBackend.FLASH_ATTENTION]),
            ("efficient", [SDPBackend.EFFICIENT_ATTENTION]),
            ("cudnn", [SDPBackend.CUDNN_ATTENTION]),
            ("math", [SDPBackend.MATH]),
        ):
            L._LOWER_RIGHT_OK = True
            try:
                if backends is None:
                    row[name] = round(cuda_ms(run, 5), 3)
                else:
                    with sdpa_kernel(backends):
                        row[name] = round(cuda_ms(run, 5), 3)
            except Exception as exc:  # a backend that cannot run this shape says so
                row[name] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:120]}"
            row[f"{name}_lower_right_ok"] = L._LOWER_RIGHT_OK
        out[str(start)] = row
    return out


def triton_gemv_variants(experts, x, top_i, top_w) -> dict:
    """evals/expert_gemv.py's kernel for the routed experts, in a few block shapes: ms captured, and the
    cosine of its output to the engine's grouped_mm path."""
    try:
        from expert_gemv import decode_experts
    except ImportError as exc:
        return {"error": f"no triton: {exc}"}
    reference = L._experts(experts, x, top_i, top_w).float()
    out: dict = {}
    for block_n, block_k, warps in ((8, 1024, 4), (16, 512, 4), (32, 256, 4), (32, 512, 8), (64, 256, 8)):
        run = partial(
            decode_experts, experts, x, top_i, top_w, block_n=block_n, block_k=block_k, num_warps=warps
        )
        name = f"{block_n}x{block_k}w{warps}"
        try:
            cos = torch.nn.functional.cosine_similarity(run().float(), reference).item()
            out[name] = {"ms": round(graphed_ms(run), 4), "cos_to_grouped_mm": round(cos, 6)}
        except Exception as exc:  # one shape that does not compile should not hide the others
            out[name] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:120]}"
    return out


def main() -> None:
    bw = copy_bandwidth()
    model, _config = build_model(4, REAL_DIMS)
    runner = Qwen35Runner(model, 4096, graphs=True)
    runner.prefill(runner.embed_ids(torch.randint(0, 1000, (1024,), device="cuda")), 0)
    x = torch.randn(1, 4096, dtype=torch.bfloat16, device="cuda")
    out: dict = {"bandwidth_TBps": round(bw / 1e12, 3)}
    layer0, layer3 = model.model.layers[0], model.model.layers[3]
    mlp = layer0.mlp
    per_expert = (mlp.experts.gate_up_proj[0].numel() + mlp.experts.down_proj[0].numel()) * 2
    moe_bytes = 10 * per_expert + nbytes(mlp.shared_expert) + nbytes(mlp.gate)
    parts = {
        "moe": (lambda: L.moe(mlp, x), moe_bytes),
        "shared_expert": (lambda: mlp.shared_expert(x), nbytes(mlp.shared_expert)),
        "router_topk": (
            lambda: torch.topk(torch.nn.functional.linear(x, mlp.gate.weight).softmax(-1), 10),
            nbytes(mlp.gate),
        ),
        "deltanet_step": (
            lambda: L.deltanet_step(layer0.linear_attn, x, runner.states[0]),
            nbytes(layer0.linear_attn),
        ),
        "deltanet_in_proj_qkv": (
            lambda: layer0.linear_attn.in_proj_qkv(x),
            nbytes(layer0.linear_attn.in_proj_qkv),
        ),
        "attention_step": (
            lambda: L.attention_step(
                layer3.self_attn,
                x,
                runner.states[3],
                runner.segments[0].pos,
                1536,
                *L.rope_tables(runner.inv_freq, 1.0, runner.segments[0].pos, torch.bfloat16),
            ),
            nbytes(layer3.self_attn),
        ),
    }
    for name, (fn, size) in parts.items():
        ms = graphed_ms(fn)
        out[name] = {
            "ms": round(ms, 4),
            "floor_ms": round(size / bw * 1000, 4),
            "x_floor": round(ms / (size / bw * 1000), 2),
        }
    # The experts alone, three ways.
    top_i = torch.randperm(512, device="cuda")[:10][None]
    top_w = torch.full((1, 10), 0.1, dtype=torch.bfloat16, device="cuda")
    out["experts_grouped_mm"] = round(graphed_ms(lambda: L._experts(mlp.experts, x, top_i, top_w)), 4)

    def gathered():
        return torch.bmm(
            mlp.experts.gate_up_proj.index_select(0, top_i[0]),
            x.expand(10, -1)[:, :, None],
        )

    out["experts_gather_bmm_gate_up_only"] = round(graphed_ms(gathered), 4)
    out["experts_floor_ms"] = round(10 * per_expert / bw * 1000, 4)
    out["experts_triton_gemv"] = triton_gemv_variants(mlp.experts, x, top_i, top_w)
    progress(out)
    runner.use_graphs = False
    out["eager_step"] = kernel_table(runner)
    progress(out)
    compiled = Qwen35Runner(model, 4096, graphs=False, compile=True)
    compiled.states = runner.states
    out["compiled_step"] = kernel_table(compiled)
    progress(out)
    out["compile_error"] = compiled.compile_error
    out["attention_prefill_200_new"] = attention_prefill_by_context(layer3.self_attn, runner.inv_freq)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
