"""The SwiReasoning controller on scripted entropy sequences; the entropy functions on known distributions."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from rioagent.reasoning.entropy import entropy_from_logits, entropy_from_top_logprobs, top_logprob_values
from rioagent.reasoning.swireasoning import Mode, SwiConfig, SwiController, SwiDecision


def run(controller: SwiController, entropies: list[float]) -> list[SwiDecision]:
    return [controller.step(h) for h in entropies]


def switch_steps(decisions: list[SwiDecision]) -> list[tuple[int, Mode]]:
    return [(d.step, d.mode) for d in decisions if d.switched]


# -- switching ---------------------------------------------------------------------------------------
def test_starts_latent_and_step_zero_only_sets_the_reference():
    c = SwiController(SwiConfig())
    first = c.step(3.0)
    assert first.mode is Mode.LATENT and not first.switched and c.h_ref == 3.0
    assert first.newline_weight == pytest.approx(0.1)
    second = c.step(3.0)  # equal is not lower: no switch, and no newline blend after step 0
    assert second.mode is Mode.LATENT and not second.switched and second.newline_weight == 0.0


def test_latent_to_explicit_as_soon_as_entropy_drops_below_reference_and_count_rises():
    c = SwiController(SwiConfig(window=0))
    d = run(c, [3.0, 3.5, 4.0, 2.9])
    assert switch_steps(d) == [(3, Mode.EXPLICIT)]
    assert c.switches == 1 and c.h_ref == 2.9  # reset to the H at the switch


def test_explicit_to_latent_waits_for_the_window_and_does_not_count():
    c = SwiController(SwiConfig(window=3))
    # step 1 switches to explicit (ref 1.0); steps 2-3 are above ref but inside the window; step 4 is the 3rd.
    d = run(c, [2.0, 1.0, 5.0, 5.0, 5.0])
    assert switch_steps(d) == [(1, Mode.EXPLICIT), (4, Mode.LATENT)]
    assert [x.mode for x in d] == [Mode.LATENT, Mode.EXPLICIT, Mode.EXPLICIT, Mode.EXPLICIT, Mode.LATENT]
    assert c.switches == 1 and c.h_ref == 5.0


def test_explicit_to_latent_needs_entropy_above_reference_even_after_the_window():
    c = SwiController(SwiConfig(window=1))
    d = run(c, [2.0, 1.0, 1.0, 0.5, 0.9])  # 1.0 is not > 1.0; 0.5 < 1.0; 0.9 < 1.0: stays explicit
    assert switch_steps(d) == [(1, Mode.EXPLICIT)]
    assert c.h_ref == 1.0  # no switch, no reset, even at lower entropies


def test_reference_resets_at_every_switch_in_both_directions():
    c = SwiController(SwiConfig(window=1))
    # 4.0 < 5.0 -> explicit, ref 4.0; 4.5 > 4.0 (not > 5.0) -> latent, ref 4.5; 4.4 < 4.5 -> explicit.
    d = run(c, [5.0, 4.0, 4.5, 4.4])
    assert switch_steps(d) == [(1, Mode.EXPLICIT), (2, Mode.LATENT), (3, Mode.EXPLICIT)]
    assert c.switches == 2 and c.h_ref == 4.4


def test_window_counts_from_the_last_switch_not_from_the_start():
    c = SwiController(SwiConfig(window=2))
    d = run(c, [9.0, 9.5, 9.5, 9.5, 1.0, 2.0, 2.0])  # long latent stretch, then explicit at step 4
    assert switch_steps(d) == [(4, Mode.EXPLICIT), (6, Mode.LATENT)]


def test_step_counters_and_history():
    c = SwiController(SwiConfig(window=1))
    d = run(c, [5.0, 4.0, 4.5, 4.6, 1.0])
    assert c.steps == 5 and c.history == d
    assert c.latent_steps == sum(x.mode is Mode.LATENT for x in d) == 3
    assert c.explicit_steps == 2


def test_rejects_bad_entropies_and_configs():
    c = SwiController()
    with pytest.raises(ValueError, match="entropy"):
        c.step(float("nan"))
    with pytest.raises(ValueError, match="entropy"):
        c.step(-0.1)
    with pytest.raises(ValueError, match="max_switches"):
        SwiConfig(max_switches=0)
    with pytest.raises(ValueError, match="window"):
        SwiConfig(window=-1)


def test_defaults_are_the_papers_with_the_agent_aware_options_on():
    cfg = SwiConfig()
    assert (cfg.window, cfg.max_switches, cfg.alpha0, cfg.beta0) == (512, 2, 0.7, 0.7)
    assert cfg.lock_after_think_end and not cfg.reference_mode and cfg.converge_text == "</think>\n\n"


# -- blend weights -----------------------------------------------------------------------------------
def test_blend_weights_only_at_switch_steps_and_fading_with_the_horizon():
    c = SwiController(SwiConfig(window=1, alpha0=0.6, beta0=0.7, max_new_tokens=10))
    d = run(c, [5.0, 4.0, 4.5, 4.5, 4.5, 1.0])
    assert d[1].switched and d[1].end_think_weight == pytest.approx(1 - (0.7 + 0.3 * 1 / 10))
    assert d[2].switched and d[2].mode is Mode.LATENT
    assert d[2].think_weight == pytest.approx(1 - (0.6 + 0.4 * 2 / 10)) and d[2].end_think_weight == 0.0
    assert d[5].end_think_weight == pytest.approx(1 - (0.7 + 0.3 * 5 / 10))
    assert all(x.think_weight == x.end_think_weight == 0.0 for x in (d[3], d[4]))


def test_explicit_only_tracks_modes_but_blends_nothing():
    c = SwiController(SwiConfig(window=1), explicit_only=True)
    d = run(c, [5.0, 4.0, 4.5])
    assert switch_steps(d) == [(1, Mode.EXPLICIT), (2, Mode.LATENT)]
    assert all(x.think_weight == x.end_think_weight == x.newline_weight == 0.0 for x in d)


# -- switch cap: convergence and termination ---------------------------------------------------------
# With window 1, this sequence switches to explicit at odd steps and back to latent at even ones.
ZIGZAG = [10.0, 9.0, 9.5, 8.0, 8.5, 7.0, 7.5, 6.0, 6.5, 5.0, 5.5, 4.0, 4.5, 3.0]


def test_converges_at_the_mth_switch_with_think_end_and_locks():
    c = SwiController(SwiConfig(window=1, max_switches=2))
    d = run(c, ZIGZAG)
    injected = [(x.step, x.inject) for x in d if x.inject]
    assert injected == [(3, "</think>\n\n")]  # the 2nd latent -> explicit switch; the 1st injects nothing
    assert c.injections == ["</think>\n\n"] and c.switches == 2 and c.locked
    after = d[4:]
    assert all(x.mode is Mode.EXPLICIT and x.locked and not x.switched and x.inject is None for x in after)
    assert not any(x.terminate_thinking for x in d)


def test_without_lock_injects_at_every_switch_from_m_to_2m_then_terminates():
    c = SwiController(SwiConfig(window=1, max_switches=2, lock_after_think_end=False))
    d = run(c, ZIGZAG)
    explicit_switches = [x for x in d if x.switched and x.mode is Mode.EXPLICIT]
    converge = "</think>\n\n"
    assert [x.inject for x in explicit_switches] == [None, converge, converge, converge, None]
    assert [x.terminate_thinking for x in explicit_switches] == [False, False, False, False, True]
    assert c.switches == 5 and c.terminated and c.locked  # past 2M = 4: thinking is over
    assert not any(x.switched for x in d[explicit_switches[-1].step + 1 :])
    assert "The final answer is" not in "".join(c.injections)


def test_no_cap_never_injects():
    c = SwiController(SwiConfig(window=1, max_switches=None))
    run(c, ZIGZAG)
    assert c.switches == 7 and c.injections == [] and not c.locked


# -- locking -----------------------------------------------------------------------------------------
def test_sampled_think_end_locks_and_nothing_is_injected_afterwards():
    c = SwiController(SwiConfig(window=1, max_switches=1))
    c.step(5.0)
    c.observe_token("</think>")
    d = run(c, [1.0, 9.0, 0.5])
    assert c.locked and c.switches == 0 and c.injections == []
    assert all(x.mode is Mode.EXPLICIT and x.locked and not x.switched for x in d)


def test_token_text_is_observed_before_the_switch_check():
    c = SwiController(SwiConfig(window=1, max_switches=1))
    c.step(5.0)
    d = c.step(1.0, token_text="</think>")  # would have switched (and converged) without the lock
    assert not d.switched and d.inject is None and c.switches == 0 and d.locked


def test_without_lock_after_think_end_a_sampled_think_end_changes_nothing():
    c = SwiController(SwiConfig(window=1, lock_after_think_end=False))
    c.step(5.0)
    c.observe_token("</think>")
    d = c.step(1.0)
    assert d.switched and not c.locked and c.think_closed


# -- reference mode ----------------------------------------------------------------------------------
def test_reference_mode_injected_think_end_does_not_lock_so_it_injects_again():
    c = SwiController(SwiConfig(window=1, max_switches=2, converge_text="</think>", reference_mode=True))
    d = run(c, ZIGZAG[:8])
    assert [x.inject for x in d if x.inject] == ["</think>", "</think>", "</think>"]  # switches 2, 3, 4
    assert not c.locked


def test_reference_mode_sampled_think_end_blocks_only_switches_into_latent():
    c = SwiController(SwiConfig(window=1, max_switches=1, reference_mode=True))
    d = run(c, [5.0, 6.0])  # still latent
    d += [c.step(6.5, token_text="</think>")]  # latched while latent: fed as explicit from now on
    d += run(c, [1.0, 9.0, 9.0])  # latent -> explicit still fires, counts and injects; no way back
    assert d[2].mode is Mode.EXPLICIT and c.mode is Mode.EXPLICIT
    assert switch_steps(d) == [(3, Mode.EXPLICIT)] and c.switches == 1
    assert d[3].inject == "</think>\n\n"  # injected into the answer: the defect rioagent's lock avoids
    assert not any(x.switched for x in d[4:])


def test_reference_mode_terminates_with_the_final_answer_text_and_a_budget():
    cfg = SwiConfig(window=1, max_switches=1, reference_mode=True, termination_max_tokens=3)
    c = SwiController(cfg)
    d = run(c, [10.0, 9.0, 9.5, 8.0, 8.5, 7.0, 7.5, 7.6, 7.7, 7.8])
    term = next(x for x in d if x.terminate_thinking)
    assert term.step == 5 and term.inject == "</think>\n\nThe final answer is"  # 3rd switch > 2M = 2
    finished = [x.step for x in d if x.finish]
    assert finished == [7, 8, 9]  # the budget counts the termination step (5, 6, 7); then it stays spent


def test_rioagent_mode_never_injects_the_final_answer_text():
    c = SwiController(SwiConfig(window=1, max_switches=1, lock_after_think_end=False))
    run(c, ZIGZAG)
    assert c.terminated and all("final answer" not in text for text in c.injections)


# -- entropy -----------------------------------------------------------------------------------------
def test_entropy_from_logits_known_distributions():
    import torch

    uniform = torch.zeros(2, 1000)
    assert torch.allclose(entropy_from_logits(uniform), torch.full((2,), math.log(1000)), atol=1e-4)
    peaked = torch.tensor([[1e4, 0.0, 0.0, 0.0]], dtype=torch.float16)  # would overflow a naive exp
    assert entropy_from_logits(peaked).item() == pytest.approx(0.0, abs=1e-6)
    masked = torch.tensor([[0.0, 0.0, float("-inf"), float("-inf")]])
    assert entropy_from_logits(masked).item() == pytest.approx(math.log(2), abs=1e-6)
    two = torch.tensor([math.log(0.75), math.log(0.25)])
    assert entropy_from_logits(two).item() == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))


def test_entropy_from_top_logprobs_is_exact_without_a_tail():
    probs = [0.5, 0.25, 0.125, 0.125]
    exact = -sum(p * math.log(p) for p in probs)
    assert entropy_from_top_logprobs([math.log(p) for p in probs]) == pytest.approx(exact)
    assert entropy_from_top_logprobs([0.0]) == 0.0
    assert entropy_from_top_logprobs([math.log(0.5), math.log(0.5) + 1e-7]) == pytest.approx(math.log(2))


def test_entropy_from_top_logprobs_is_exact_when_the_tail_is_flat_at_the_kth():
    # 25 equally likely tokens, only the top 20 listed: the leftover 0.2 sits at p_k = 0.04.
    assert entropy_from_top_logprobs([math.log(0.04)] * 20) == pytest.approx(math.log(25))


def test_entropy_from_top_logprobs_brackets_the_true_entropy_of_a_long_tail():
    vocab = 5000
    weights = [1.0 / (rank + 1) ** 1.2 for rank in range(vocab)]  # Zipf-like
    total = sum(weights)
    probs = [w / total for w in weights]
    true = -sum(p * math.log(p) for p in probs)
    top = [math.log(p) for p in probs[:20]]
    low, high = entropy_from_top_logprobs(top), entropy_from_top_logprobs(top, vocab_size=vocab)
    assert low <= true <= high
    listed_only = -sum(p * math.log(p) for p in probs[:20])
    assert low > listed_only  # the tail is counted, not dropped


def test_entropy_from_top_logprobs_orders_sharper_below_flatter():
    sharp = entropy_from_top_logprobs([math.log(0.9), math.log(0.05), math.log(0.01)])
    flat = entropy_from_top_logprobs([math.log(0.3), math.log(0.3), math.log(0.2)])
    assert sharp < flat


def test_entropy_from_top_logprobs_skips_minus_infinity_and_rejects_empty():
    assert entropy_from_top_logprobs([0.0, -math.inf]) == 0.0
    with pytest.raises(ValueError, match="top_logprobs"):
        entropy_from_top_logprobs([])


def test_top_logprob_values_reads_both_wire_shapes():
    chat = [{"token": "a", "logprob": -0.1}, {"token": "b", "logprob": -2.0, "bytes": None}]
    legacy = {"a": -0.1, "b": -2.0}
    assert top_logprob_values(chat) == top_logprob_values(legacy) == [-0.1, -2.0]
    assert top_logprob_values(None) == []


def test_importing_the_reasoning_package_does_not_import_torch():
    code = "import sys, rioagent.reasoning, rioagent.reasoning.endpoint_swi; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
