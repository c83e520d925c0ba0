"""A candidate decode kernel for the routed experts, measured against grouped_mm by profile_decode.py.

At one token each of the 10 chosen experts is a matrix-vector product, so its cost is reading the expert's
weights once. grouped_mm tiles each expert's problem for many rows: with one row a group, its grid may
leave multiprocessors idle while the weights stream. Here each (chosen expert, block of output rows) pair
is one program that streams its rows once, so the 10 experts' 25 MB each spread over the whole GPU.

Not wired into the engine: profile_decode.py times it against grouped_mm at the real dims; if it wins
there, it moves into rioagent/models/. Its check against torch runs on the CPU through Triton's
interpreter:

    TRITON_INTERPRET=1 python evals/expert_gemv.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import triton
import triton.language as tl


@triton.jit
def _expert_gemv_kernel(
    w_ptr,  # (experts, N, K), K contiguous
    x_ptr,  # (picks, K), or one row for all picks (stride_xp = 0)
    ids_ptr,  # (picks,): the expert of each pick
    out_ptr,  # (picks, N)
    N,
    stride_we,
    stride_wn,
    stride_xp,
    K: tl.constexpr,  # hidden or intermediate size: a constant, so the loop's trip count is known
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    pick = tl.program_id(0)
    rows = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    row_ok = rows < N
    expert = tl.load(ids_ptr + pick).to(tl.int64)
    w_rows = w_ptr + expert * stride_we + rows.to(tl.int64)[:, None] * stride_wn
    acc = tl.zeros((BLOCK_N,), dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        cols = k0 + tl.arange(0, BLOCK_K)
        col_ok = cols < K
        w = tl.load(w_rows + cols[None, :], mask=row_ok[:, None] & col_ok[None, :], other=0.0)
        v = tl.load(x_ptr + pick * stride_xp + cols, mask=col_ok, other=0.0)
        acc += tl.sum(w.to(tl.float32) * v.to(tl.float32)[None, :], axis=1)
    tl.store(out_ptr + pick * N + rows, acc.to(out_ptr.dtype.element_ty), mask=row_ok)


def expert_gemv(
    weights: torch.Tensor,
    x: torch.Tensor,
    ids: torch.Tensor,
    *,
    block_n: int = 32,
    block_k: int = 256,
    num_warps: int = 4,
) -> torch.Tensor:
    """out[p] = weights[ids[p]] @ x[p] (x[0] for every p when x has one row). weights: (E, N, K)."""
    if weights.stride(2) != 1 or x.stride(-1) != 1:
        raise ValueError("expert_gemv needs the weights' and the input's last dimension contiguous")
    picks, (_, n, k) = ids.numel(), weights.shape
    out = torch.empty(picks, n, dtype=x.dtype, device=x.device)
    stride_xp = 0 if x.shape[0] == 1 else x.stride(0)
    grid = (picks, triton.cdiv(n, block_n))
    _expert_gemv_kernel[grid](
        weights, x, ids, out, n, weights.stride(0), weights.stride(1), stride_xp,
        K=k, BLOCK_N=block_n, BLOCK_K=block_k, num_warps=num_warps,
    )  # fmt: skip
    return out


def decode_experts(
    experts: torch.nn.Module, x: torch.Tensor, top_i: torch.Tensor, top_w: torch.Tensor, **blocks
):
    """The routed experts for one token (x: (1, hidden); top_i, top_w: (1, top_k)), as qwen35_layers._experts
    computes them."""
    ids = top_i[0]
    gate, up = expert_gemv(experts.gate_up_proj, x, ids, **blocks).chunk(2, dim=-1)
    down = expert_gemv(experts.down_proj, experts.act_fn(gate) * up, ids, **blocks)
    return (down * top_w[0][:, None]).sum(0, keepdim=True).to(x.dtype)


def _check() -> None:
    """Against a plain torch computation of the same products, in float32 (through the interpreter on the
    CPU, or on a GPU)."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    experts, n, k = 12, 200, 300  # sizes that are not multiples of the blocks
    weights = torch.randn(experts, n, k, device=device)
    ids = torch.tensor([3, 0, 11, 3], device=device)
    shared, rows = torch.randn(1, k, device=device), torch.randn(4, k, device=device)
    for x in (shared, rows):
        expected = torch.einsum("pnk,pk->pn", weights[ids], x.expand(4, -1))
        got = expert_gemv(weights, x, ids, block_n=32, block_k=128)
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    # The whole routed-expert computation against the engine's, on a tiny Qwen3.5-MoE layer.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from transformers.models.qwen3_5_moe import Qwen3_5MoeForCausalLM

    from rioagent.models.qwen35_layers import _experts
    from tests.tiny_qwen import tiny_config

    model = Qwen3_5MoeForCausalLM(tiny_config(num_experts=16, num_experts_per_tok=4)).to(device)
    experts = model.model.layers[0].mlp.experts
    x = torch.randn(1, model.config.hidden_size, device=device)
    top_w, top_i = torch.rand(1, 16, device=device).softmax(-1).topk(4)
    torch.testing.assert_close(
        decode_experts(experts, x, top_i, top_w), _experts(experts, x, top_i, top_w), rtol=1e-4, atol=1e-5
    )
    print("expert_gemv agrees with torch on", device)


if __name__ == "__main__":
    _check()
