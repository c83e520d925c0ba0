"""Where a decode step's time goes, at the real layer dims: each part of a layer captured in a CUDA graph
and timed against the bytes it must read, plus the top kernels of an eager step. A diagnostic for
bench_decode.py; prints JSON.

    python evals/profile_decode.py
"""

from __future__ import annotations

import json
import sys
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


def nbytes(module: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters())


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
    from torch.profiler import ProfilerActivity, profile

    runner.use_graphs = False
    embed = runner.embed_ids([5])
    for _ in range(3):
        runner.decode(embed, 1100)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(5):
            runner.decode(embed, 1100)
        torch.cuda.synchronize()
    rows = []
    for e in sorted(prof.key_averages(), key=lambda e: -e.device_time_total)[:25]:
        rows.append(
            {
                "kernel": e.key[:90],
                "calls_per_step": e.count // 5,
                "us_per_step": round(e.device_time_total / 5, 1),
            }
        )
    total = sum(e.device_time_total for e in prof.key_averages()) / 5
    out["eager_step_kernel_us"] = round(total, 1)
    out["eager_kernels_per_step"] = sum(e.count for e in prof.key_averages()) // 5
    out["top_kernels"] = rows
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
