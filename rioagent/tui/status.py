"""What the status bar says, folded from the same events the conversation shows. Pure logic."""

from __future__ import annotations

from dataclasses import dataclass, field

from rioagent.events import AssistantMessage, Compacted, Event, Finished, SessionStarted, StepStarted, Undone
from rioagent.thinking import ThinkingTotals

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def human(n: int) -> str:
    """Token counts the way people read them: 950, 12.3k, 1.2M."""
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k".replace(".0k", "k")
    return f"{n / 1_000_000:.1f}M".replace(".0M", "M")


def duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


@dataclass
class StatusInfo:
    model: str = ""
    backend: str = ""
    context_window: int = 0
    context_tokens: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    step: int = 0
    approval: str = "ask"
    think: str = "on"
    running: bool = False
    state: str = "ready"  # what the agent is doing: thinking, writing, running bash, waiting for you...
    started: float | None = None  # monotonic time the current run began
    last_run_seconds: float = 0.0
    thinking: ThinkingTotals = field(default_factory=ThinkingTotals)

    def apply(self, event: Event) -> None:
        if isinstance(event, SessionStarted):
            self.model, self.backend = event.model or self.model, event.backend or self.backend
        elif isinstance(event, StepStarted):
            self.step = event.step
        elif isinstance(event, AssistantMessage):
            usage = event.usage
            self.tokens_in += int(usage.get("prompt_tokens", 0))
            self.tokens_out += int(usage.get("completion_tokens", 0))
            # The prompt the model saw plus what it wrote: what the next step starts from.
            self.context_tokens = event.context_tokens + int(usage.get("completion_tokens", 0))
            self.thinking.add(event.thinking)
        elif isinstance(event, Compacted):
            self.context_tokens = event.tokens_after
        elif isinstance(event, Undone):
            self.step = event.step - 1
        elif isinstance(event, Finished):
            self.last_run_seconds = event.seconds

    def context_percent(self) -> int | None:
        if not self.context_window:
            return None
        return min(999, round(100 * self.context_tokens / self.context_window))

    def render(self, now: float, frame: int = 0, width: int = 80) -> str:
        """The left part of the status line; parts give way on a narrow terminal (`width` cells)."""
        elapsed = (
            (now - self.started) if (self.running and self.started is not None) else self.last_run_seconds
        )
        head = SPINNER[frame % len(SPINNER)] if self.running else "●"
        pct = self.context_percent()
        ctx = f"ctx {human(self.context_tokens)}"
        if pct is not None:
            ctx += f"/{human(self.context_window)} {pct}%"
        saved = self.thinking.saved_estimate
        parts = [
            f"{head} {self.state}",
            f"{self.model} · {self.backend}" if self.backend else self.model,
            ctx,
            f"↑{human(self.tokens_in)} ↓{human(self.tokens_out)}",
            f"step {self.step}",
            duration(elapsed),
            f"think {self.think}" + (f" saved ~{human(saved)}" if saved else ""),
        ]
        # Which parts give way first: thinking, then the time, the token totals, the model name.
        order = [6, 5, 3, 1]
        while len(" │ ".join(p for p in parts if p)) > width and order:
            parts[order.pop(0)] = ""
        return " │ ".join(p for p in parts if p)
