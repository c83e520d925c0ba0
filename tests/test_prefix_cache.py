"""The prefix cache's bookkeeping: where a diverging prompt rolls back to, and which snapshots survive."""

from __future__ import annotations

import itertools
import random

from rioagent.models.prefix_cache import PrefixCache, boundaries, common_prefix


def grow(cache: PrefixCache, tokens: list[int], cuts: list[int]) -> None:
    """Feed `tokens` and snapshot (the position itself stands in for the state) at each cut."""
    at = len(cache.tokens)
    for cut in cuts:
        cache.consumed(tokens[at:cut])
        at = cut
        cache.save(cut)


def test_common_prefix_agrees_with_a_plain_loop_across_block_edges() -> None:
    rng = random.Random(0)
    for _ in range(200):
        n = rng.randrange(0, 3000)
        a = [rng.randrange(3) for _ in range(n)]
        b = list(a)
        if b and rng.random() < 0.8:
            b[rng.randrange(n)] += 1
        b = b[: rng.randrange(0, n + 1)] if rng.random() < 0.3 else b
        pairs = enumerate(zip(a, b, strict=False))
        expected = next((i for i, (x, y) in pairs if x != y), min(len(a), len(b)))
        assert common_prefix(a, b, block=64) == expected


def test_a_prompt_that_extends_the_state_prefills_only_its_new_tokens() -> None:
    cache = PrefixCache()
    prompt = list(range(100))
    grow(cache, prompt, boundaries(prompt, 0, marker=-5))
    plan = cache.plan([*prompt, 100, 101])
    assert (plan.start, plan.snapshot, plan.reset) == (100, None, False)


def test_a_diverging_prompt_rolls_back_to_the_last_snapshot_before_the_divergence() -> None:
    cache = PrefixCache()
    prompt = list(range(100))
    grow(cache, prompt, [10, 40, 70, 100])
    changed = [*prompt[:55], 999, *prompt[56:]]
    plan = cache.plan(changed)
    assert (plan.start, plan.snapshot) == (40, 40)
    cache.applied(plan)
    assert cache.tokens == prompt[:40] and cache.snapshot_positions == [10, 40]


def test_a_long_session_keeps_its_first_snapshot_and_spreads_the_rest() -> None:
    """Sixty messages with room for eight snapshots: the system turn survives, the newest survive, and the
    ones between are spread out, so a divergence far back re-prefills a bounded stretch, not everything."""
    cache = PrefixCache(max_snapshots=8)
    cuts = [100 * (i + 1) for i in range(60)]
    tokens = list(range(cuts[-1]))
    grow(cache, tokens, cuts)
    kept = cache.snapshot_positions
    assert len(kept) == 8
    assert kept[0] == 100  # the system turn
    assert kept[-4:] == cuts[-4:]  # where prompts usually diverge
    gaps = [b - a for a, b in itertools.pairwise(kept)]
    assert max(gaps) <= 2 * (cuts[-4] - kept[0]) / (len(kept) - 4)  # spread, not bunched
    diverged = [*tokens[:1234], -7, *tokens[1235:]]
    plan = cache.plan(diverged)
    assert plan.start == max(p for p in kept if p <= 1234) and plan.start > 0
