"""The Qwen3.5-MoE text layers as plain functions over transformers' modules and our own state tensors.

transformers' forward goes through a growing DynamicCache, mask builders and Python-side bookkeeping on
every call: right for `generate()`, too slow for single-token decode and impossible to capture in a CUDA
graph. These functions read the same weights (the modules are transformers' own, so loading, sharding and
quantized checkpoints stay theirs) and write into preallocated state, so a decode step has static shapes.
Every function works on one sequence: hidden states are (T, hidden).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class DeltaNetState:
    conv: torch.Tensor  # (conv_dim, kernel - 1): the last inputs of the causal depthwise conv
    recurrent: torch.Tensor  # (v_heads, k_dim, v_dim), float32 as transformers keeps it


@dataclass
class AttentionState:
    keys: torch.Tensor  # (kv_heads, max_len, head_dim); position p lives at index p
    values: torch.Tensor


def rms_norm(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Qwen3.5's zero-centred RMSNorm: x / rms(x) * (1 + w), computed in float32 (one fused kernel for
    the normalization instead of five)."""
    scale = 1.0 + module.weight.float()
    return F.rms_norm(x.float(), scale.shape, scale, module.eps).type_as(x)


def _gated_rms_norm(module: torch.nn.Module, x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    dtype = x.dtype
    normed = F.rms_norm(x.float(), x.shape[-1:], eps=module.variance_epsilon).to(dtype)
    return (module.weight * normed * F.silu(gate.float())).to(dtype)


def _l2norm(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """scale * x / sqrt(sum(x^2) + 1e-6) over the last dim, as FLA's l2norm, through the fused RMSNorm:
    x / sqrt(mean(x^2) + 1e-6 / d) is sqrt(d) times it."""
    d = x.shape[-1]
    return F.rms_norm(x, (d,), eps=1e-6 / d) * (scale * d**-0.5)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the first `cos.shape[-1]` dims of each head (Qwen3.5 rotates only part of the head).
    x: (T, heads, head_dim); cos/sin: (T, rotary_dim)."""
    dim = cos.shape[-1]
    rot, rest = x[..., :dim], x[..., dim:]
    cos, sin = cos[:, None, :], sin[:, None, :]
    return torch.cat((rot * cos + _rotate_half(rot) * sin, rest), dim=-1)


def rope_tables(
    inv_freq: torch.Tensor, scaling: float, positions: torch.Tensor, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    # Text-only positions are equal in all three M-RoPE sections, so M-RoPE is plain RoPE here.
    freqs = positions[:, None].float() * inv_freq.float()[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return (emb.cos() * scaling).to(dtype), (emb.sin() * scaling).to(dtype)


# --- Gated DeltaNet -------------------------------------------------------------------------------------


def _delta_inputs(attn: torch.nn.Module, x: torch.Tensor, mixed: torch.Tensor):
    """Split the conv output into heads and compute the decay g and the write strength beta."""
    t = x.shape[0]
    q, k, v = torch.split(mixed, [attn.key_dim, attn.key_dim, attn.value_dim], dim=-1)
    q = q.reshape(t, attn.num_k_heads, attn.head_k_dim).float()
    k = k.reshape(t, attn.num_k_heads, attn.head_k_dim).float()
    v = v.reshape(t, attn.num_v_heads, attn.head_v_dim).float()
    q = _l2norm(q, attn.head_k_dim**-0.5)
    k = _l2norm(k)
    repeat = attn.num_v_heads // attn.num_k_heads
    if repeat > 1:
        q = q.repeat_interleave(repeat, dim=1)
        k = k.repeat_interleave(repeat, dim=1)
    # The write strength is rounded to the weights' dtype, as transformers' forward rounds it; kept in
    # float32 it moves the recurrent state off that forward's by a rounding every token.
    beta = attn.in_proj_b(x).sigmoid().float()
    g = -attn.A_log.float().exp() * F.softplus(attn.in_proj_a(x).float() + attn.dt_bias.float())
    return q, k, v, g, beta


def _delta_output(attn: torch.nn.Module, x: torch.Tensor, core: torch.Tensor) -> torch.Tensor:
    t = x.shape[0]
    z = attn.in_proj_z(x).reshape(t * attn.num_v_heads, attn.head_v_dim)
    core = core.to(x.dtype).reshape(t * attn.num_v_heads, attn.head_v_dim)
    out = _gated_rms_norm(attn.norm, core, z).reshape(t, attn.value_dim)
    return attn.out_proj(out)


def deltanet_step(attn: torch.nn.Module, x: torch.Tensor, state: DeltaNetState) -> torch.Tensor:
    """One token (x: (1, hidden)); updates `state` in place. Graph-safe: no host syncs, no allocation
    that depends on data."""
    mixed = attn.in_proj_qkv(x)  # (1, conv_dim)
    window = torch.cat((state.conv, mixed.t().to(state.conv.dtype)), dim=-1)  # (conv_dim, kernel)
    state.conv.copy_(window[:, 1:])
    weight = attn.conv1d.weight[:, 0, :]
    conv = (window.float() * weight.float()).sum(-1)
    if attn.conv1d.bias is not None:
        conv = conv + attn.conv1d.bias.float()
    # Rounded to the weights' dtype before the activation, as the prefill's conv1d (and transformers')
    # rounds it: a decode step must see the inputs a prefill of the same tokens sees.
    mixed = F.silu(conv.to(weight.dtype)).to(x.dtype)[None, :]
    q, k, v, g, beta = _delta_inputs(attn, x, mixed)
    q, k, v, g, beta = q[0], k[0], v[0], g[0], beta[0]  # (heads, dim) and (heads,)
    # In place and as batched products: the float32 state (4 MB a layer at the real dims) is read three
    # times and written twice, instead of passing through a temporary at every elementwise step.
    s = state.recurrent
    s.mul_(g.exp()[:, None, None])
    remembered = torch.bmm(k[:, None, :], s)[:, 0]  # (heads, v_dim)
    delta = (v - remembered) * beta[:, None]
    s.baddbmm_(k[:, :, None], delta[:, None, :])
    core = torch.bmm(q[:, None, :], s)[:, 0]
    return _delta_output(attn, x, core[None])


def _chunk_delta_rule(q, k, v, g, beta, state: torch.Tensor, chunk: int = 64):
    """The gated delta rule over a sequence, chunked (the WY form). q,k: (T, H, Dk); v: (T, H, Dv);
    g, beta: (T, H); state: (H, Dk, Dv). Returns the output (T, H, Dv) and the final state."""
    t = q.shape[0]
    pad = (chunk - t % chunk) % chunk
    q, k, v = (F.pad(a, (0, 0, 0, 0, 0, pad)).transpose(0, 1) for a in (q, k, v))  # (H, T', D)
    g, beta = (F.pad(a, (0, 0, 0, pad)).transpose(0, 1) for a in (g, beta))  # (H, T')
    h = q.shape[0]
    n = q.shape[1] // chunk
    q, k, v = (a.reshape(h, n, chunk, a.shape[-1]) for a in (q, k, v))
    g, beta = g.reshape(h, n, chunk), beta.reshape(h, n, chunk)
    k_beta, v_beta = k * beta[..., None], v * beta[..., None]
    decay = g.cumsum(-1)  # log of the decay from the chunk's start to each position
    upper = torch.ones(chunk, chunk, dtype=torch.bool, device=q.device).triu(1)
    pair = (decay[..., :, None] - decay[..., None, :]).masked_fill(upper, float("-inf")).exp()
    system = (k_beta @ k.transpose(-1, -2)) * pair
    # (I + strictly-lower(system))^-1 by a unit triangular solve: the chunk's delta-rule updates at once.
    new_values = torch.linalg.solve_triangular(system, v_beta, upper=False, unitriangular=True)
    k_decayed = torch.linalg.solve_triangular(
        system, k_beta * decay.exp()[..., None], upper=False, unitriangular=True
    )
    intra = (q @ k.transpose(-1, -2)) * pair
    q_dec = q * decay.exp()[..., None]
    k_dec = k * (decay[..., -1:] - decay).exp()[..., None]
    chunk_decay = decay[..., -1].exp()[..., None, None]
    out = torch.empty_like(v)
    s = state.to(q.dtype)
    for i in range(n):
        v_new = new_values[:, i] - k_decayed[:, i] @ s
        out[:, i] = q_dec[:, i] @ s + intra[:, i] @ v_new
        s = s * chunk_decay[:, i] + k_dec[:, i].transpose(-1, -2) @ v_new
    out = out.reshape(h, n * chunk, -1)[:, :t].transpose(0, 1)
    return out, s


def deltanet_prefill(
    attn: torch.nn.Module, x: torch.Tensor, state: DeltaNetState, splits: Sequence[int] = ()
) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
    """A run of tokens (x: (T, hidden)) continuing from `state`; updates it in place. Also returns the
    state (conv, recurrent) as it stood after each of `splits` (positions in 1..T, ascending): the
    recurrence runs piece by piece between them, everything else over the whole run at once."""
    t, kept = x.shape[0], state.conv.shape[-1]
    mixed = attn.in_proj_qkv(x).t()  # (conv_dim, T)
    window = torch.cat((state.conv, mixed.to(state.conv.dtype)), dim=-1)  # column kept + i is token i
    state.conv.copy_(window[:, -kept:])
    conv = F.conv1d(window[None], attn.conv1d.weight, attn.conv1d.bias, groups=window.shape[0])[0]
    mixed = F.silu(conv.float()).to(x.dtype).t()[-t:]  # (T, conv_dim)
    q, k, v, g, beta = _delta_inputs(attn, x, mixed)
    ends = list(splits) if splits and splits[-1] == t else [*splits, t]
    cores, saved, recurrent, begin = [], [], state.recurrent, 0
    for end in ends:
        core, recurrent = _chunk_delta_rule(
            q[begin:end], k[begin:end], v[begin:end], g[begin:end], beta[begin:end], recurrent
        )
        cores.append(core)
        if end in splits:
            saved.append((window[:, end : end + kept].clone(), recurrent))
        begin = end
    state.recurrent.copy_(recurrent)
    return _delta_output(attn, x, torch.cat(cores) if len(cores) > 1 else cores[0]), saved


# --- Gated full attention -------------------------------------------------------------------------------


def _qkv(attn: torch.nn.Module, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
    t, d = x.shape[0], attn.head_dim
    q, gate = attn.q_proj(x).view(t, -1, 2 * d).chunk(2, dim=-1)
    q = rope(rms_norm(attn.q_norm, q), cos, sin)
    k = rope(rms_norm(attn.k_norm, attn.k_proj(x).view(t, -1, d)), cos, sin)
    v = attn.v_proj(x).view(t, -1, d)
    return q, k, v, gate.reshape(t, -1)


def attention_query(
    attn: torch.nn.Module, x: torch.Tensor, state: AttentionState, pos: torch.Tensor, cos, sin
) -> tuple[torch.Tensor, torch.Tensor]:
    """One token at position `pos` (a (1,) tensor, so a captured graph can move it): write its key and
    value into the cache; return its query, shaped for `attend_cache`, and its output gate."""
    q, k, v, gate = _qkv(attn, x, cos, sin)
    state.keys.index_copy_(1, pos, k.transpose(0, 1).to(state.keys.dtype))
    state.values.index_copy_(1, pos, v.transpose(0, 1).to(state.values.dtype))
    # One query position: the query heads sharing a kv head become rows of that head's attention, so the
    # fused kernel (softmax in float32) runs without repeating K/V.
    return q.view(1, state.keys.shape[0], -1, attn.head_dim), gate


def attend_cache(
    state: AttentionState, query: torch.Tensor, pos: torch.Tensor, length: int, scale: float
) -> torch.Tensor:
    """Attention over the first `length` cache slots (a fixed bucket, >= pos + 1); slots past `pos` are
    masked. Returns (1, heads * head_dim)."""
    keys, values = state.keys[None, :, :length], state.values[None, :, :length]
    visible = (torch.arange(length, device=query.device) <= pos).view(1, 1, 1, length)
    out = F.scaled_dot_product_attention(query, keys, values, attn_mask=visible, scale=scale)
    return out.reshape(1, -1)


def attention_output(attn: torch.nn.Module, attended: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    return attn.o_proj(attended * torch.sigmoid(gate))


def attention_step(
    attn: torch.nn.Module,
    x: torch.Tensor,
    state: AttentionState,
    pos: torch.Tensor,
    length: int,
    cos: torch.Tensor,
    sin: torch.Tensor,
) -> torch.Tensor:
    """One token at position `pos`, attending over the first `length` cache slots."""
    query, gate = attention_query(attn, x, state, pos, cos, sin)
    return attention_output(attn, attend_cache(state, query, pos, length, attn.scaling), gate)


def attention_prefill(
    attn: torch.nn.Module,
    x: torch.Tensor,
    state: AttentionState,
    start: int,
    cos: torch.Tensor,
    sin: torch.Tensor,
) -> torch.Tensor:
    t = x.shape[0]
    q, k, v, gate = _qkv(attn, x, cos, sin)
    state.keys[:, start : start + t] = k.transpose(0, 1).to(state.keys.dtype)
    state.values[:, start : start + t] = v.transpose(0, 1).to(state.values.dtype)
    keys, values = state.keys[None, :, : start + t], state.values[None, :, : start + t]
    query = q.transpose(0, 1)[None]  # (1, heads, T, d)
    out = _causal_attention(query, keys, values, start, attn.scaling)
    out = out[0].transpose(0, 1).reshape(t, -1)
    return attn.o_proj(out * torch.sigmoid(gate))


_LOWER_RIGHT_OK = True


def _causal_attention(query, keys, values, start: int, scale: float) -> torch.Tensor:
    """Causal attention of T new queries over start + T keys (the last T are theirs)."""
    global _LOWER_RIGHT_OK
    if start == 0:
        return F.scaled_dot_product_attention(
            query, keys, values, is_causal=True, scale=scale, enable_gqa=True
        )
    t, total = query.shape[2], keys.shape[2]
    if _LOWER_RIGHT_OK:
        # A causal mask aligned to the bottom right runs in the fused kernels; a dense mask of T x (start + T)
        # would send long contexts to the unfused path.
        from torch.nn.attention.bias import causal_lower_right

        try:
            return F.scaled_dot_product_attention(
                query, keys, values, attn_mask=causal_lower_right(t, total), scale=scale, enable_gqa=True
            )
        except (RuntimeError, TypeError, NotImplementedError):
            _LOWER_RIGHT_OK = False  # this torch build can't: use the dense mask from now on
    rows = torch.arange(t, device=query.device)[:, None] + start
    allowed = torch.arange(total, device=query.device)[None, :] <= rows
    return F.scaled_dot_product_attention(
        query, keys, values, attn_mask=allowed, scale=scale, enable_gqa=True
    )


# --- Mixture of experts ---------------------------------------------------------------------------------


# Where the grouped product runs the experts. It runs on the CPU too (tests route through it there), but
# the gather below is faster for the small models that run on a CPU.
GROUPED_DEVICES = ("cuda",)


def _grouped_mm():
    return getattr(F, "grouped_mm", None) or getattr(torch, "_grouped_mm", None)


def _experts(experts: torch.nn.Module, x: torch.Tensor, top_i: torch.Tensor, top_w: torch.Tensor):
    t, top_k = top_i.shape
    flat = top_i.reshape(-1)
    grouped = _grouped_mm()
    if grouped is not None and x.device.type in GROUPED_DEVICES and x.dtype == torch.bfloat16:
        # Rows sorted by expert, one group per expert: reads only the chosen experts' weights, with no
        # host sync and no data-dependent shapes, so a decode step containing it can be captured.
        order = torch.argsort(flat, stable=True)
        rows = order // top_k
        counts = torch.zeros(experts.num_experts, dtype=torch.int32, device=x.device)
        counts.scatter_add_(0, flat.to(torch.int64), torch.ones_like(flat, dtype=torch.int32))
        offsets = counts.cumsum(0, dtype=torch.int32)
        gate_up = grouped(x.index_select(0, rows), experts.gate_up_proj.transpose(-2, -1), offs=offsets)
        gate, up = gate_up.chunk(2, dim=-1)
        down = grouped(experts.act_fn(gate) * up, experts.down_proj.transpose(-2, -1), offs=offsets)
        down = down * top_w.reshape(-1).index_select(0, order)[:, None]
        return torch.zeros_like(x).index_add_(0, rows, down.to(x.dtype))
    # CPU and float32: gather each (token, expert) pair's weights; fine for the small models run there.
    gate_up = torch.bmm(experts.gate_up_proj.index_select(0, flat), x.repeat_interleave(top_k, 0)[:, :, None])
    gate, up = gate_up[:, :, 0].chunk(2, dim=-1)
    down = torch.bmm(experts.down_proj.index_select(0, flat), (experts.act_fn(gate) * up)[:, :, None])[
        :, :, 0
    ]
    down = down * top_w.reshape(-1, 1)
    return down.view(t, top_k, -1).sum(1).to(x.dtype)


def moe(block: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    router = block.gate
    logits = F.linear(x, router.weight)
    probs = logits.softmax(-1, dtype=torch.float32)
    top_w, top_i = torch.topk(probs, router.top_k, dim=-1)
    top_w = (top_w / top_w.sum(-1, keepdim=True)).to(x.dtype)
    routed = _experts(block.experts, x, top_i, top_w)
    shared = block.shared_expert(x) * torch.sigmoid(block.shared_expert_gate(x))
    return routed + shared
