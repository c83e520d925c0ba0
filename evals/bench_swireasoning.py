"""SwiReasoning's cost per token against plain decoding, at the real layer dims on one GPU (random
weights, 4 layers, the same model as bench_decode.py). Prints JSON.

Measured in one run: plain decoding; SwiReasoning's explicit steps (entropy, controller, one host sync);
a latent step (the probability-weighted mixture over all 248,320 embeddings). The whole-run overhead depends
on how many steps are latent, so it is given for the measured run and, from the per-step costs, for a
60-layer model with the paper's observation that latent blocks last one or two tokens.

    python evals/bench_swireasoning.py

With --cpu-steps it measures instead, on the CPU, thinking tokens per agent step under each thinking policy
over evals/agent_steps/steps.json with the SmolLM2 demonstration model (see evals/bench_swi_steps.py):

    python evals/bench_swireasoning.py --cpu-steps [--max-tokens 32] [--window W] [--max-switches M]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_decode import REAL_DIMS, build_model, cuda_ms
from bench_swi_steps import POLICIES, bench

from rioagent.models.engine import Engine, GenerationStats, SpecialIds
from rioagent.models.qwen35_runner import Qwen35Runner
from rioagent.models.sampling import SamplingParams
from rioagent.reasoning.swireasoning import SwiConfig

SPECIAL = SpecialIds(stop=frozenset(), message_start=248_045, think=248_068, think_end=248_069, newline=198)
PARAMS = SamplingParams(temperature=0.6, top_p=0.95, top_k=20, seed=0)


def run(engine: Engine, prompt: list[int], tokens: int, swi: SwiConfig | None) -> GenerationStats:
    engine.cache.clear()
    engine.runner.reset()
    stats = GenerationStats()
    list(engine.generate(prompt, PARAMS, max_new_tokens=tokens, swi=swi, stats=stats))
    return stats


def per_token_ms(stats: GenerationStats) -> float:
    return (stats.seconds - stats.ttft_s) / max(1, stats.generated_tokens - 1) * 1000


def main() -> None:
    model, _ = build_model(4, REAL_DIMS)
    runner = Qwen35Runner(model, 4096, graphs=True)
    engine = Engine(runner, SPECIAL, decode_text=lambda ids: "", encode_text=lambda text: [248_069, 198, 198])
    prompt = torch.randint(0, 200_000, (1024,)).tolist()
    tokens = 256
    run(engine, prompt, 16, None)  # capture the graphs first
    out: dict = {"device": torch.cuda.get_device_name(), "layers": 4, "tokens": tokens}
    plain = min(per_token_ms(run(engine, prompt, tokens, None)) for _ in range(3))
    # window=0 and no cap: switches as often as the entropy says; never converges, so it runs the full length.
    swi_stats = [run(engine, prompt, tokens, SwiConfig(window=0, max_switches=None)) for _ in range(3)]
    swi = min(per_token_ms(s) for s in swi_stats)
    latent_share = swi_stats[0].latent_steps / swi_stats[0].generated_tokens
    # The explicit-only cost: the controller locked from the first step (as after </think>) still computes
    # the entropy and syncs once per step.
    table = runner.embedding_matrix
    probs = torch.rand(table.shape[0], device="cuda").softmax(-1).to(table.dtype)
    mixture = cuda_ms(lambda: probs @ table, iters=50)
    out.update(
        plain_ms_per_token=round(plain, 4),
        swi_ms_per_token=round(swi, 4),
        swi_latent_share=round(latent_share, 3),
        swi_switches=swi_stats[0].switches,
        overhead_measured=round(swi / plain - 1, 4),
        mixture_ms=round(mixture, 4),
    )
    explicit_extra = max(0.0, swi - plain - latent_share * mixture)
    out["explicit_step_extra_ms"] = round(explicit_extra, 4)
    layer_ms = (plain - 0.74) / 4  # head (norm + LM head + sampling) taken as bench_decode's 0.74 ms
    step60 = 60 * layer_ms + 0.74
    # Latent blocks of 1-2 tokens between explicit runs of >= W = 512: at most ~0.4% of steps are latent.
    for share in (0.004, 0.05):
        out[f"overhead_60_layers_latent_{share}"] = round((explicit_extra + share * mixture) / step60, 4)
    print(json.dumps(out, indent=1))


def cli() -> None:
    import argparse
    import asyncio

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cpu-steps", action="store_true", help="thinking tokens per agent step, on the CPU")
    parser.add_argument("--policies", default=",".join(POLICIES), help="comma-separated; default: all")
    parser.add_argument("--max-tokens", type=int, default=32, help="output budget per step (default 32)")
    parser.add_argument("--window", type=int, help="SwiReasoning's W (default: the product's, 512)")
    parser.add_argument("--max-switches", type=int, help="SwiReasoning's M (default: the product's, 2)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N steps")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    if not args.cpu_steps:
        main()
        return
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    unknown = [p for p in policies if p not in POLICIES]
    if unknown:
        parser.error(f"unknown policies {unknown}; choose from {', '.join(POLICIES)}")
    swi = {k: v for k, v in (("window", args.window), ("max_switches", args.max_switches)) if v is not None}
    result = asyncio.run(bench(policies, args.max_tokens, swi, limit=args.limit))
    text = json.dumps(result, indent=1, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    cli()
