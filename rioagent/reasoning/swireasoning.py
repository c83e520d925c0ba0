"""The SwiReasoning switching controller (arXiv 2510.05069) as pure logic: entropies in, decisions out.

Both backends drive it once per decoding step with H, the entropy of the full-vocabulary softmax of the
raw logits (rioagent.reasoning.entropy): the in-process engine acts on every field of the decision, the
endpoint approximation (rioagent.reasoning.endpoint_swi) only on `inject` / `terminate_thinking`.

The rules (from the paper and its BSD-3 reference code; step 0 is the first generated position):
- Start in LATENT mode; step 0 only records H_ref = H_0 and never switches.
- LATENT -> EXPLICIT as soon as H < H_ref. The switch count rises here, and only here.
- EXPLICIT -> LATENT when H > H_ref and at least `window` (W) steps have passed since the last switch
  (the switch step itself is step 0 of that count, so step s+W is the first that may switch back).
- H_ref is reset to the current H at every switch, in either direction.
- Switch cap M (`max_switches`): a LATENT -> EXPLICIT switch that brings the count into [M, 2M] injects
  `converge_text` ("</think>\n\n") to end the thought; one that brings it past 2M terminates thinking.

Blend weights (what the engine mixes into the embedding it feeds back; t = step, T = `max_new_tokens`):
    alpha_t = alpha0 + (1 - alpha0) * t / T        beta_t = beta0 + (1 - beta0) * t / T
- step 0:                 fed = (1 - newline_weight) * (p @ E) + newline_weight * E["\n"], newline_weight 0.1
  (the real newline token: the reference looked up the two characters backslash-n, a defect)
- switch into LATENT:     fed = (1 - think_weight) * (p @ E) + think_weight * E[<think>],
  think_weight = 1 - alpha_t
- switch into EXPLICIT:   fed = (1 - end_think_weight) * (p @ E) + end_think_weight * E[</think>],
  end_think_weight = 1 - beta_t (the base is the soft embedding, not the sampled token's: as in the reference)
- other LATENT steps feed p @ E; other EXPLICIT steps feed the sampled (or injected) token's embedding.
Here p is the softmax of the raw logits (temperature 1, no top-k/top-p), E the input embedding matrix.
The weights fade to 0 over the horizon T; with alpha0 = 1 the <think> blend is off (the reference's
default alpha; its scripts tune alpha per benchmark between 0.1 and 1.0, beta stays 0.7).

Where rioagent departs from the reference (`reference_mode=True` restores the reference's behaviour):
- Locking. A `</think>`, sampled or injected, locks the controller when `lock_after_think_end`: EXPLICIT
  from then on, no switches, no injections, so a tool call in the answer is never cut into. Reference:
  a sampled `</think>` only blocks EXPLICIT -> LATENT (LATENT -> EXPLICIT still fires, counts and can
  inject again inside the answer), and an injected one does not lock at all.
- Termination. Past 2M rioagent ends the thought with `converge_text` and locks (the answer is a tool
  call: never "The final answer is"). Reference: inject `termination_text`
  ("</think>\n\nThe final answer is") and stop after `termination_max_tokens` more steps (`finish`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

THINK_END = "</think>"
REFERENCE_MAX_SWITCHES = 2  # run_chat.py's and the README's default for --max_switch_count
FIRST_STEP_NEWLINE_WEIGHT = 0.1


class Mode(Enum):
    LATENT = "latent"
    EXPLICIT = "explicit"


@dataclass
class SwiConfig:
    window: int = 512  # W: EXPLICIT steps since the last switch before switching back to LATENT
    max_switches: int | None = REFERENCE_MAX_SWITCHES  # M; None disables convergence and termination
    alpha0: float = 0.7  # <think> blend at switches into LATENT: weight 1 - alpha_t
    beta0: float = 0.7  # </think> blend at switches into EXPLICIT: weight 1 - beta_t
    lock_after_think_end: bool = True
    converge_text: str = "</think>\n\n"
    reference_mode: bool = False
    max_new_tokens: int = 32768  # T, the horizon over which the blend weights fade to 0
    termination_text: str = "</think>\n\nThe final answer is"  # reference_mode only
    termination_max_tokens: int = 32  # reference_mode only: steps left after termination

    def __post_init__(self) -> None:
        if self.window < 0:
            raise ValueError(f"SwiConfig.window must be >= 0, got {self.window}")
        if self.max_switches is not None and self.max_switches < 1:
            raise ValueError(f"SwiConfig.max_switches must be >= 1 or None, got {self.max_switches}")
        if self.max_new_tokens < 1:
            raise ValueError(f"SwiConfig.max_new_tokens must be >= 1, got {self.max_new_tokens}")


@dataclass(frozen=True)
class SwiDecision:
    """What to do at one step. `mode` is the mode after this step's switch check: what is fed back."""

    step: int
    entropy: float
    mode: Mode
    switched: bool = False
    think_weight: float = 0.0  # weight of E[<think>] in the fed embedding (switch into LATENT)
    end_think_weight: float = 0.0  # weight of E[</think>] in the fed embedding (switch into EXPLICIT)
    newline_weight: float = 0.0  # weight of E["\n"] at step 0
    inject: str | None = None  # text to force from the next step on, replacing sampled tokens
    terminate_thinking: bool = False
    locked: bool = False
    finish: bool = False  # reference_mode: the answer budget after termination is spent; stop decoding


@dataclass
class SwiController:
    """One decoding row's switching state. Call `step` once per step, `observe_token` with each token."""

    config: SwiConfig = field(default_factory=SwiConfig)
    explicit_only: bool = False  # remote endpoints: track the modes, but there is nothing to blend
    mode: Mode = field(default=Mode.LATENT, init=False)
    h_ref: float | None = field(default=None, init=False)
    switches: int = field(default=0, init=False)
    latent_steps: int = field(default=0, init=False)
    explicit_steps: int = field(default=0, init=False)
    injections: list[str] = field(default_factory=list, init=False)
    history: list[SwiDecision] = field(default_factory=list, init=False)
    locked: bool = field(default=False, init=False)
    think_closed: bool = field(default=False, init=False)  # a </think> was sampled or injected
    terminated: bool = field(default=False, init=False)
    answer_budget: int | None = field(default=None, init=False)  # reference_mode termination
    _steps: int = field(default=0, init=False)
    _since_switch: int = field(default=0, init=False)
    _latched: bool = field(default=False, init=False)  # reference_mode: a sampled </think>

    @property
    def steps(self) -> int:
        return self._steps

    def observe_token(self, text: str, *, injected: bool = False) -> None:
        """The token emitted at this step (sampled, or forced from an injection)."""
        if THINK_END not in text:
            return
        self.think_closed = True
        if self.config.reference_mode:
            # The reference checks the sampled token before an injection overrides it: injected never latch.
            self._latched = self._latched or not injected
        elif self.config.lock_after_think_end:
            self._lock()

    def step(self, entropy: float, *, token_text: str | None = None) -> SwiDecision:
        """Decide this step from H. `token_text`, when given, is this step's sampled token, observed first
        (the reference checks for a sampled </think> before it switches)."""
        if not math.isfinite(entropy) or entropy < 0:
            raise ValueError(f"entropy must be a finite number >= 0, got {entropy!r}")
        if token_text is not None:
            self.observe_token(token_text)
        step = self._steps
        self._steps += 1
        if self.locked:
            return self._record(step, entropy)
        if step == 0:
            self.h_ref = entropy
            newline = 0.0 if self.explicit_only else FIRST_STEP_NEWLINE_WEIGHT
            return self._record(step, entropy, newline_weight=newline)
        return self._switch_step(step, entropy)

    # -- internals ------------------------------------------------------------------------------------
    def _switch_step(self, step: int, entropy: float) -> SwiDecision:
        assert self.h_ref is not None
        cfg = self.config
        self._since_switch += 1
        to_explicit = self.mode is Mode.LATENT and entropy < self.h_ref
        to_latent = (
            self.mode is Mode.EXPLICIT
            and entropy > self.h_ref
            and self._since_switch >= cfg.window
            and not self._latched
        )
        if not (to_explicit or to_latent):
            return self._maybe_finish(self._record(step, entropy))
        self.mode = Mode.EXPLICIT if to_explicit else Mode.LATENT
        self.h_ref = entropy
        self._since_switch = 0
        fade = step / cfg.max_new_tokens
        blend = 0.0 if self.explicit_only else 1.0
        if to_latent:
            weight = blend * (1 - (cfg.alpha0 + (1 - cfg.alpha0) * fade))
            return self._maybe_finish(self._record(step, entropy, switched=True, think_weight=weight))
        self.switches += 1
        end_weight = blend * (1 - (cfg.beta0 + (1 - cfg.beta0) * fade))
        inject, terminate = self._cap()
        return self._maybe_finish(
            self._record(
                step, entropy, switched=True, end_think_weight=end_weight, inject=inject, terminate=terminate
            )
        )

    def _cap(self) -> tuple[str | None, bool]:
        """The switch cap, checked at a LATENT -> EXPLICIT switch (the count already includes it)."""
        cfg, cap = self.config, self.config.max_switches
        if cap is None or self.switches < cap:
            return None, False
        if self.switches <= 2 * cap:
            return self._inject(cfg.converge_text), False
        self.terminated = True
        if cfg.reference_mode:
            self.answer_budget = cfg.termination_max_tokens
            return self._inject(cfg.termination_text), True
        # Thinking is over either way; close the thought unless it is closed already.
        text = None if self.think_closed else self._inject(cfg.converge_text)
        self._lock()
        return text, True

    def _inject(self, text: str) -> str:
        self.injections.append(text)
        if THINK_END in text:
            # The injected tokens are emitted from the next step on; lock now so none of those steps switches.
            self.observe_token(text, injected=True)
        return text

    def _maybe_finish(self, decision: SwiDecision) -> SwiDecision:
        if self.answer_budget is None:
            return decision
        self.answer_budget -= 1  # the reference counts the termination step itself
        if self.answer_budget > 0:
            return decision
        self.answer_budget = 0
        finished = SwiDecision(**{**decision.__dict__, "finish": True})
        self.history[-1] = finished
        return finished

    def _lock(self) -> None:
        self.locked = True
        self.mode = Mode.EXPLICIT

    def _record(
        self,
        step: int,
        entropy: float,
        *,
        switched: bool = False,
        think_weight: float = 0.0,
        end_think_weight: float = 0.0,
        newline_weight: float = 0.0,
        inject: str | None = None,
        terminate: bool = False,
    ) -> SwiDecision:
        # The reference feeds the sampled token once a </think> was sampled, whatever its mode says.
        mode = Mode.EXPLICIT if self._latched else self.mode
        if mode is Mode.LATENT:
            self.latent_steps += 1
        else:
            self.explicit_steps += 1
        decision = SwiDecision(
            step=step,
            entropy=entropy,
            mode=mode,
            switched=switched,
            think_weight=think_weight,
            end_think_weight=end_think_weight,
            newline_weight=newline_weight,
            inject=inject,
            terminate_thinking=terminate,
            locked=self.locked,
        )
        self.history.append(decision)
        return decision
