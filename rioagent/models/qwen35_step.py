"""One layer's single-token decode step, in the pieces a CUDA graph captures and torch.compile can fuse.

At batch size 1 a decode step reads each weight once and does little arithmetic, so a layer costs its
weight reads plus a launch per kernel. Eager PyTorch spends about a hundred small kernels a layer on norms,
gates, the router and the recurrent update; Inductor fuses those elementwise chains into a few. Attention
over the cache stays eager: its length is the context bucket, and a compiled piece that saw it would be
compiled again for every bucket.
"""

from __future__ import annotations

from typing import Any

import torch

from rioagent.models.qwen35_layers import (
    AttentionState,
    DeltaNetState,
    attention_output,
    attention_query,
    deltanet_step,
    moe,
    rms_norm,
    rope_tables,
)


def deltanet_layer(layer: torch.nn.Module, hidden: torch.Tensor, state: DeltaNetState) -> torch.Tensor:
    hidden = hidden + deltanet_step(layer.linear_attn, rms_norm(layer.input_layernorm, hidden), state)
    return hidden + moe(layer.mlp, rms_norm(layer.post_attention_layernorm, hidden))


def attention_layer_query(
    layer: torch.nn.Module,
    hidden: torch.Tensor,
    state: AttentionState,
    pos: torch.Tensor,
    inv_freq: torch.Tensor,
    rope_scaling: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    cos, sin = rope_tables(inv_freq, rope_scaling, pos, hidden.dtype)
    return attention_query(layer.self_attn, rms_norm(layer.input_layernorm, hidden), state, pos, cos, sin)


def attention_layer_output(
    layer: torch.nn.Module, hidden: torch.Tensor, attended: torch.Tensor, gate: torch.Tensor
) -> torch.Tensor:
    hidden = hidden + attention_output(layer.self_attn, attended, gate)
    return hidden + moe(layer.mlp, rms_norm(layer.post_attention_layernorm, hidden))


class LayerSteps:
    """The decode pieces, as written (eager) or through torch.compile. Compiled pieces are shared by every
    layer of a kind: the modules' weights are inputs of the compiled graph, not constants in it."""

    def __init__(self, compiled: bool = False):
        self.compiled = compiled
        wrap: Any = _compile if compiled else (lambda fn: fn)
        self.deltanet = wrap(deltanet_layer)
        self.attention_query = wrap(attention_layer_query)
        self.attention_output = wrap(attention_layer_output)


def _compile(fn):
    # fullgraph: a graph break would put a host round trip inside the step, which capture forbids;
    # dynamic=False: every shape in a decode step is fixed.
    return torch.compile(fn, fullgraph=True, dynamic=False)


EAGER = LayerSteps()
