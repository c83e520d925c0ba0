"""Per-step thinking figures and the session's totals, whatever backend produced them.

Each model turn reports `thinking_tokens`, `latent_steps`, `switches`, `injections` and the `mode` used
(off, on, swi, swi-endpoint). "Saved" is an estimate, and named as one: a thought cut short by
SwiReasoning's switch cap is credited with the difference to the average thought that ended on its own
in the same session. Until such a thought exists there is nothing to compare with, and nothing is credited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def step_figures(mode: str, thinking_tokens: int, **extra: Any) -> dict[str, Any]:
    figures = {
        "mode": mode,
        "thinking_tokens": thinking_tokens,
        "latent_steps": 0,
        "switches": 0,
        "injections": [],
    }
    figures.update(extra)
    return figures


@dataclass
class ThinkingTotals:
    thinking_tokens: int = 0
    latent_steps: int = 0
    switches: int = 0
    cut_short: list[int] = field(default_factory=list)  # thinking tokens of thoughts the cap ended
    natural: list[int] = field(default_factory=list)  # thinking tokens of thoughts that ended on their own

    def add(self, figures: dict[str, Any]) -> None:
        if not figures:
            return
        tokens = int(figures.get("thinking_tokens", 0))
        self.thinking_tokens += tokens
        self.latent_steps += int(figures.get("latent_steps", 0))
        self.switches += int(figures.get("switches", 0))
        if figures.get("mode", "off") == "off" or not tokens:
            return
        (self.cut_short if figures.get("injections") else self.natural).append(tokens)

    @property
    def saved_estimate(self) -> int:
        if not self.natural:
            return 0
        typical = sum(self.natural) / len(self.natural)
        return int(sum(max(0.0, typical - used) for used in self.cut_short))

    def to_dict(self) -> dict[str, int]:
        return {
            "thinking_tokens": self.thinking_tokens,
            "latent_steps": self.latent_steps,
            "switches": self.switches,
            "steps_cut_short": len(self.cut_short),
            "saved_estimate": self.saved_estimate,
        }
