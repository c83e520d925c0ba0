"""Will the model and its cache fit? Estimated before loading, so a run is refused with advice instead of
running out of memory halfway through a load or a long prefill."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GIB = 1024**3
DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4, "float8_e4m3fn": 1}
ACTIVATION_HEADROOM = 0.10  # prefill chunks, graph pools, allocator slack


@dataclass(frozen=True)
class MemoryEstimate:
    weights: int
    cache: int
    snapshots: int

    @property
    def total(self) -> int:
        return int((self.weights + self.cache + self.snapshots) * (1 + ACTIVATION_HEADROOM))


def checkpoint_bytes(path: Path) -> int:
    """Bytes of the checkpoint's weight files (safetensors or bin), as stored."""
    files = list(path.glob("*.safetensors")) or list(path.glob("*.bin"))
    return sum(f.stat().st_size for f in files)


def parameter_bytes(config: Any, dtype_bytes: int) -> int:
    """Weights from the config alone, for Qwen3.5-MoE (a hub id not downloaded yet, or a test)."""
    c = config
    h = c.hidden_size
    attn_full = h * c.num_attention_heads * c.head_dim * 2 + 2 * h * c.num_key_value_heads * c.head_dim
    attn_full += c.num_attention_heads * c.head_dim * h
    k_dim, v_dim = (
        c.linear_num_key_heads * c.linear_key_head_dim,
        c.linear_num_value_heads * c.linear_value_head_dim,
    )
    attn_linear = h * (2 * k_dim + v_dim) + h * v_dim + 2 * h * c.linear_num_value_heads + v_dim * h
    experts = c.num_experts * 3 * h * c.moe_intermediate_size + 3 * h * c.shared_expert_intermediate_size
    experts += c.num_experts * h + h
    total = 0
    for kind in c.layer_types:
        total += (attn_full if kind == "full_attention" else attn_linear) + experts
    total += 2 * c.vocab_size * h
    return total * dtype_bytes


def cache_bytes(config: Any, context: int, kv_bytes: int = 2) -> tuple[int, int]:
    """(attention KV for `context` tokens, one snapshot of the recurrent state)."""
    c = config
    kinds = getattr(c, "layer_types", None) or ["full_attention"] * c.num_hidden_layers
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    kv_heads = getattr(c, "num_key_value_heads", None) or c.num_attention_heads
    full = sum(1 for k in kinds if k == "full_attention")
    kv = full * 2 * kv_heads * head_dim * context * kv_bytes
    linear = len(kinds) - full
    state = 0
    if linear:
        v_heads, kd, vd = c.linear_num_value_heads, c.linear_key_head_dim, c.linear_value_head_dim
        conv_dim = 2 * c.linear_num_key_heads * kd + v_heads * vd
        state = linear * (v_heads * kd * vd * 4 + conv_dim * (c.linear_conv_kernel_dim - 1) * kv_bytes)
    return kv, state


def estimate(config: Any, weights: int, context: int, snapshots: int) -> MemoryEstimate:
    kv, state = cache_bytes(config, context)
    return MemoryEstimate(weights=weights, cache=kv + state, snapshots=state * snapshots)


def check_fits(est: MemoryEstimate, available: int, *, where: str, context: int) -> None:
    """Raise MemoryError with what fits and what to change when `est` exceeds `available` bytes."""
    if est.total <= available:
        return
    room_for_cache = available / (1 + ACTIVATION_HEADROOM) - est.weights - est.snapshots
    advice = []
    if room_for_cache <= 0:
        advice.append(
            f"the weights alone need {est.weights / GIB:.1f} GiB: add GPUs (device_map over more devices), "
            "allow CPU memory with max_memory, or use a quantized (FP8) checkpoint"
        )
    else:
        fits = int(context * room_for_cache / max(est.cache, 1))
        advice.append(f"a context of about {fits:,} tokens fits: set context_window = {fits} in the profile")
        advice.append("or give the model more memory (max_memory, more GPUs)")
    raise MemoryError(
        f"the model needs about {est.total / GIB:.1f} GiB ({est.weights / GIB:.1f} weights, "
        f"{est.cache / GIB:.1f} cache for {context:,} tokens, {est.snapshots / GIB:.1f} state snapshots) "
        f"but {where} has {available / GIB:.1f} GiB; " + "; ".join(advice)
    )


def read_config_json(path: Path) -> dict[str, Any]:
    return json.loads((path / "config.json").read_text())
