"""Next-token sampling for the in-process engine: temperature, top-k, top-p, min-p, presence penalty."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SamplingParams:
    """DESIGN.md's preset for thinking and coding: T=0.6, top_p=0.95, top_k=20. temperature 0 is greedy."""

    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int = 20
    min_p: float = 0.0
    presence_penalty: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.temperature < 0:
            problems.append(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            problems.append(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            problems.append(f"top_k must be >= 0 (0: off), got {self.top_k}")
        if not 0 <= self.min_p < 1:
            problems.append(f"min_p must be in [0, 1), got {self.min_p}")
        if problems:
            raise ValueError("; ".join(problems))


def sample(
    logits: torch.Tensor,
    params: SamplingParams,
    generator: torch.Generator | None = None,
    seen: torch.Tensor | None = None,
) -> torch.Tensor:
    """Pick one token id from `logits` (vocab,). `seen` marks tokens already generated (for the presence
    penalty). Returns a 0-dim tensor on the logits' device: the caller decides when to sync."""
    if params.presence_penalty and seen is not None:
        logits = logits - params.presence_penalty * seen.to(logits.dtype)
    if params.temperature == 0:
        return logits.argmax()
    logits = logits / params.temperature
    if params.top_k:
        values, ids = torch.topk(logits, min(params.top_k, logits.shape[-1]))
    else:
        values, ids = torch.sort(logits, descending=True)
    probs = values.softmax(-1)
    keep = torch.ones_like(probs, dtype=torch.bool)
    if params.min_p:
        keep &= probs >= params.min_p * probs[0]
    if params.top_p < 1:
        before = probs.cumsum(-1) - probs  # mass of the strictly more likely tokens
        keep &= before < params.top_p
    probs = probs * keep
    choice = torch.multinomial(probs, 1, generator=generator)
    return ids[choice[0]]
