"""Runs a loaded Qwen3.5-MoE on preallocated state: chunked prefill, a single-token decode step captured
in CUDA graphs (one per attention-length bucket and per device segment), and state snapshots for prefix reuse.

The runner keeps no notion of "the conversation": the engine says at which position each call starts and
which snapshot to return to. Positions past the ones the engine considers valid hold stale data that the
next write at that position replaces.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from rioagent.models.qwen35_layers import (
    AttentionState,
    DeltaNetState,
    attend_cache,
    attention_prefill,
    deltanet_prefill,
    moe,
    rms_norm,
    rope_tables,
)
from rioagent.models.qwen35_step import EAGER, LayerSteps

log = logging.getLogger(__name__)

MIN_BUCKET = 256

Snapshot = list[tuple[torch.Tensor, torch.Tensor]]  # (conv, recurrent) of each DeltaNet layer, in order


def attention_bucket(length: int, max_len: int) -> int:
    """The cache length a decode step attends over: a power of two >= `length`, so a handful of captured
    graphs cover every context length while a short context never reads the whole cache."""
    bucket = MIN_BUCKET
    while bucket < length:
        bucket *= 2
    return min(bucket, max_len)


@dataclass
class _Segment:
    """Consecutive layers on one device; the last segment also applies the final norm and the LM head."""

    device: torch.device
    layers: list[int]
    head: bool
    pos: torch.Tensor  # (1,) int64 on `device`: the decode position, written before each replay
    inv_freq: torch.Tensor  # the rotary frequencies, on `device`
    graphs: dict[int, tuple[Any, torch.Tensor, torch.Tensor]] = field(default_factory=dict)


class Qwen35Runner:
    """`model` is transformers' Qwen3_5MoeForCausalLM, already loaded and placed (any device_map).
    `compile`: fuse the decode step's small kernels with torch.compile; if it fails (no compiler, an op it
    cannot trace) the runner says why in `compile_error` and decodes eagerly."""

    def __init__(
        self,
        model: torch.nn.Module,
        max_len: int,
        *,
        graphs: bool | None = None,
        chunk: int = 2048,
        compile: bool = False,
    ):
        text = model.model
        self.model = model
        self.config = model.config
        self.max_len = max_len
        self.chunk = chunk
        self.layers = list(text.layers)
        self.kinds = list(self.config.layer_types)
        self.embed = text.embed_tokens
        self.norm = text.norm
        self.head = model.lm_head
        self.inv_freq = text.rotary_emb.inv_freq
        self.rope_scaling = float(getattr(text.rotary_emb, "attention_scaling", 1.0))
        self.dtype = self.embed.weight.dtype
        self.device = self.embed.weight.device
        self.states: list[DeltaNetState | AttentionState] = [
            self._new_state(layer, kind) for layer, kind in zip(self.layers, self.kinds, strict=True)
        ]
        self.segments = self._segments()
        on_gpu = all(seg.device.type == "cuda" for seg in self.segments)
        self.use_graphs = on_gpu if graphs is None else graphs and on_gpu
        self._pools: dict[torch.device, Any] = {}
        self.steps = LayerSteps(compiled=True) if compile else EAGER
        self.compile_error = ""
        self._steps_checked = not compile

    # --- state ------------------------------------------------------------------------------------------

    def _new_state(self, layer: torch.nn.Module, kind: str) -> DeltaNetState | AttentionState:
        if kind == "linear_attention":
            attn = layer.linear_attn
            weight = attn.conv1d.weight
            conv = torch.zeros(
                attn.conv_dim, attn.conv_kernel_size - 1, dtype=weight.dtype, device=weight.device
            )
            recurrent = torch.zeros(
                attn.num_v_heads, attn.head_k_dim, attn.head_v_dim, dtype=torch.float32, device=weight.device
            )
            return DeltaNetState(conv, recurrent)
        attn = layer.self_attn
        weight = attn.k_proj.weight
        shape = (self.config.num_key_value_heads, self.max_len, attn.head_dim)
        return AttentionState(
            torch.zeros(shape, dtype=weight.dtype, device=weight.device),
            torch.zeros(shape, dtype=weight.dtype, device=weight.device),
        )

    def snapshot(self) -> Snapshot:
        """Copies of the recurrent layers' state. Attention needs none: its cache is indexed by position."""
        return [(s.conv.clone(), s.recurrent.clone()) for s in self.states if isinstance(s, DeltaNetState)]

    def restore(self, snapshot: Snapshot) -> None:
        recurrent = [s for s in self.states if isinstance(s, DeltaNetState)]
        for state, (conv, rec) in zip(recurrent, snapshot, strict=True):
            state.conv.copy_(conv)
            state.recurrent.copy_(rec)

    def reset(self) -> None:
        for state in self.states:
            if isinstance(state, DeltaNetState):
                state.conv.zero_()
                state.recurrent.zero_()

    # --- inputs -----------------------------------------------------------------------------------------

    @property
    def embedding_matrix(self) -> torch.Tensor:
        return self.embed.weight

    @torch.inference_mode()
    def embed_ids(self, ids: list[int] | torch.Tensor) -> torch.Tensor:
        ids = torch.as_tensor(ids, dtype=torch.long, device=self.device)
        return self.embed(ids)

    # --- prefill ----------------------------------------------------------------------------------------

    @torch.inference_mode()
    def prefill(self, embeds: torch.Tensor, start: int) -> torch.Tensor:
        """Consume `embeds` (T, hidden) at positions start..start+T-1; return the last position's logits
        (float32, vocab)."""
        return self.prefill_with_snapshots(embeds, start, ())[0]

    @torch.inference_mode()
    def prefill_with_snapshots(
        self, embeds: torch.Tensor, start: int, cuts: Sequence[int]
    ) -> tuple[torch.Tensor, list[Snapshot]]:
        """`prefill`, plus a snapshot of the state after each position in `cuts` (absolute, ascending,
        in start+1..start+T), all in one pass through the layers: a pass per message would pay every
        layer's weights and launches once per message."""
        total = embeds.shape[0]
        if start + total > self.max_len:
            raise ValueError(f"context of {start + total} tokens exceeds the engine's {self.max_len}")
        hidden, snapshots = embeds, []
        for offset in range(0, total, self.chunk):
            piece = embeds[offset : offset + self.chunk]
            at = start + offset
            splits = [cut - at for cut in cuts if at < cut <= at + piece.shape[0]]
            hidden, saved = self._prefill_chunk(piece, at, splits)
            snapshots.extend(saved)
        return self._logits(hidden[-1:]), snapshots

    def _prefill_chunk(
        self, hidden: torch.Tensor, start: int, splits: list[int]
    ) -> tuple[torch.Tensor, list[Snapshot]]:
        t = hidden.shape[0]
        tables: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}
        saved: list[Snapshot] = [[] for _ in splits]  # per split: (conv, recurrent) per DeltaNet layer
        for layer, kind, state in zip(self.layers, self.kinds, self.states, strict=True):
            device = layer.input_layernorm.weight.device
            hidden = hidden.to(device)
            normed = rms_norm(layer.input_layernorm, hidden)
            if kind == "linear_attention":
                mixed, states = deltanet_prefill(layer.linear_attn, normed, state, splits)
                for snapshot, layer_state in zip(saved, states, strict=True):
                    snapshot.append(layer_state)
            else:
                if device not in tables:
                    positions = torch.arange(start, start + t, device=device)
                    tables[device] = rope_tables(
                        self.inv_freq.to(device), self.rope_scaling, positions, self.dtype
                    )
                mixed = attention_prefill(layer.self_attn, normed, state, start, *tables[device])
            hidden = hidden + mixed
            hidden = hidden + moe(layer.mlp, rms_norm(layer.post_attention_layernorm, hidden))
        return hidden, saved

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = hidden.to(self.norm.weight.device)
        hidden = rms_norm(self.norm, hidden)
        return self.head(hidden.to(self.head.weight.device))[0].float()

    # --- decode -----------------------------------------------------------------------------------------

    @torch.inference_mode()
    def decode(self, embed: torch.Tensor, pos: int) -> torch.Tensor:
        """One step: `embed` (1, hidden) at position `pos`. Returns the logits (float32, vocab); with CUDA
        graphs that is a static buffer, valid until the next call."""
        if pos >= self.max_len:
            raise ValueError(f"context of {pos + 1} tokens exceeds the engine's {self.max_len}")
        if self.steps.compiled and not embed.is_inference():
            # Built outside inference mode (SwiReasoning's mixtures are): the compiled pieces would be
            # compiled a second time for such an input.
            embed = embed.clone()
        if not self._steps_checked:
            self._check_compiled(embed, pos)
        if not self.use_graphs:
            return self._eager_step(embed, pos)
        bucket = attention_bucket(pos + 1, self.max_len)
        for seg in self.segments:
            seg.pos.fill_(pos)
        hidden = embed
        for seg in self.segments:
            if bucket not in seg.graphs:
                self._capture(seg, bucket, hidden.to(seg.device))
            graph, inp, out = seg.graphs[bucket]
            inp.copy_(hidden)
            graph.replay()
            hidden = out
        return hidden

    def _eager_step(self, embed: torch.Tensor, pos: int) -> torch.Tensor:
        for seg in self.segments:
            seg.pos.fill_(pos)
        hidden = embed
        for seg in self.segments:
            hidden = self._run_segment(seg, hidden.to(seg.device), pos + 1)
        return hidden

    def _run_segment(self, seg: _Segment, hidden: torch.Tensor, length: int) -> torch.Tensor:
        steps = self.steps
        for i in seg.layers:
            layer, state = self.layers[i], self.states[i]
            if isinstance(state, DeltaNetState):
                hidden = steps.deltanet(layer, hidden, state)
                continue
            query, gate = steps.attention_query(
                layer, hidden, state, seg.pos, seg.inv_freq, self.rope_scaling
            )
            attended = attend_cache(state, query, seg.pos, length, layer.self_attn.scaling)
            hidden = steps.attention_output(layer, hidden, attended, gate)
        return self._logits(hidden) if seg.head else hidden

    def _check_compiled(self, embed: torch.Tensor, pos: int) -> None:
        """Compile the decode pieces on a throwaway step (the state is put back after it), so a failure
        falls back to eager decoding instead of ending the run."""
        self._steps_checked = True
        saved = self.snapshot()
        try:
            self._eager_step(embed, pos)
        except Exception as exc:  # Inductor and Triton raise many kinds; any one means: decode eagerly
            self.compile_error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}"
            log.warning("torch.compile of the decode step failed, decoding eagerly: %s", self.compile_error)
            self.steps = EAGER
        finally:
            self.restore(saved)

    def _capture(self, seg: _Segment, bucket: int, example: torch.Tensor) -> None:
        """Record one segment's decode step for one attention bucket. The warm-up runs write real state,
        so the recurrent state is saved around them (the KV slot they write is the one this step writes)."""
        saved = self.snapshot()
        with torch.cuda.device(seg.device):
            inp = example.clone()
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(2):
                    self._run_segment(seg, inp, bucket)
            torch.cuda.current_stream().wait_stream(stream)
            pool = self._pools.setdefault(seg.device, torch.cuda.graph_pool_handle())
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=pool):
                out = self._run_segment(seg, inp, bucket)
        self.restore(saved)
        seg.graphs[bucket] = (graph, inp, out)

    def _segments(self) -> list[_Segment]:
        segments: list[_Segment] = []
        for i, layer in enumerate(self.layers):
            device = layer.input_layernorm.weight.device
            if not segments or segments[-1].device != device:
                segments.append(self._segment(device))
            segments[-1].layers.append(i)
        head_device = self.head.weight.device
        if segments[-1].device != head_device:
            segments.append(self._segment(head_device))
        segments[-1].head = True
        return segments

    def _segment(self, device: torch.device) -> _Segment:
        pos = torch.zeros(1, dtype=torch.long, device=device)
        return _Segment(device, [], False, pos, self.inv_freq.to(device))
