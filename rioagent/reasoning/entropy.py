"""Next-token entropy, in nats: exactly from logits (in-process), estimated from top-k logprobs (endpoints).

Estimating from the top k: the k listed tokens contribute -sum p_i log p_i exactly; the leftover mass
r = 1 - sum p_i belongs to tokens nobody listed. Each of them is at most as likely as the least likely
listed token (the list is the top k) and at most r, so each has -log p >= -log min(p_k, r), hence

    H >= H_top + r * -log(min(p_k, r))        (the default estimate: the tightest bound the list allows)
    H <= H_top + r * log((V - k) / r)         (`vocab_size=V`: the tail spread uniformly over the rest)

The lower bound is chosen. It is exact when the tail continues flat at p_k, it is bounded (never more
than r * log(1/p_k) above the listed part), and it moves with the true entropy. The upper bound is
dominated by log V (12.4 nats for Qwen3.5's 248,320 tokens) whenever any mass is left over, so it
swamps the signal the controller compares (H against H_ref). SwiReasoning only compares entropies of
the same model step to step, so a consistent estimate matters more than an unbiased one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


def entropy_from_logits(logits: Any) -> Any:
    """Entropy of softmax(logits) over the last dimension, in nats, computed in float32 via log_softmax
    (no exp overflow, no log(0)). Accepts a torch tensor of shape [..., V]; returns shape [...]."""
    import torch  # lazy: nothing in rioagent imports torch at module import

    log_p = torch.log_softmax(logits.float(), dim=-1)
    # exp(-inf) * -inf would be nan for masked logits; those tokens contribute 0.
    terms = torch.where(torch.isneginf(log_p), torch.zeros_like(log_p), log_p.exp() * log_p)
    return -terms.sum(dim=-1)


def entropy_from_top_logprobs(top_logprobs: Iterable[float], *, vocab_size: int | None = None) -> float:
    """Estimate the full-vocabulary entropy (nats) from the top-k logprobs of one step (k = 20 usually).

    Without `vocab_size`, the lower bound described in the module docstring; with it, the upper bound
    (tail uniform over the vocab_size - k unlisted tokens). Logprobs of -inf (or None) are skipped.
    """
    probs = sorted((math.exp(lp) for lp in top_logprobs if lp is not None and lp != -math.inf), reverse=True)
    if not probs:
        raise ValueError("no finite logprobs to estimate an entropy from; request top_logprobs > 0")
    listed = -sum(p * math.log(p) for p in probs if p > 0)
    # Servers round logprobs; a sum a hair over 1 means no tail, not a negative one.
    rest = 1.0 - sum(probs)
    if rest <= 1e-9:
        return max(0.0, listed)
    if vocab_size is not None:
        unlisted = vocab_size - len(probs)
        if unlisted <= 0:
            return listed
        return listed + rest * math.log(unlisted / rest)
    return listed - rest * math.log(min(probs[-1], rest))


def top_logprob_values(entry: dict[str, Any] | list[Any] | None) -> list[float]:
    """The logprob numbers of one step's top list, in either wire shape servers use:
    chat completions `[{"token": ..., "logprob": ...}, ...]`, legacy completions `{token: logprob}`."""
    if not entry:
        return []
    if isinstance(entry, dict):
        return [float(v) for v in entry.values() if isinstance(v, int | float)]
    values = []
    for item in entry:
        if isinstance(item, dict) and isinstance(item.get("logprob"), int | float):
            values.append(float(item["logprob"]))
    return values
