"""The in-process decode loop: prefix reuse, sampling, stop ids, and SwiReasoning's latent thinking.

A hand-written loop rather than `generate()`: it streams token by token, keeps the model's state between
agent steps, feeds embedding mixtures in latent mode, and stops where an agent needs it to (any stop id,
or a caller's test such as "a tool call just closed").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from rioagent.models.prefix_cache import LATENT, PrefixCache, boundaries
from rioagent.models.sampling import SamplingParams, sample
from rioagent.reasoning.entropy import entropy_from_logits
from rioagent.reasoning.swireasoning import THINK_END, Mode, SwiConfig, SwiController


class Runner(Protocol):
    device: torch.device
    max_len: int

    @property
    def embedding_matrix(self) -> torch.Tensor: ...
    def embed_ids(self, ids: list[int]) -> torch.Tensor: ...
    def prefill(self, embeds: torch.Tensor, start: int) -> torch.Tensor: ...
    def prefill_with_snapshots(
        self, embeds: torch.Tensor, start: int, cuts: list[int]
    ) -> tuple[torch.Tensor, list[Any]]: ...
    def decode(self, embed: torch.Tensor, pos: int) -> torch.Tensor: ...
    def snapshot(self) -> Any: ...
    def restore(self, snapshot: Any) -> None: ...
    def reset(self) -> None: ...


@dataclass(frozen=True)
class SpecialIds:
    stop: frozenset[int]  # <|im_end|>, <|endoftext|>: from the checkpoint, never guessed from a name
    message_start: int | None = None  # <|im_start|>: message boundaries for snapshots
    think: int | None = None
    think_end: int | None = None
    newline: int | None = None  # the real "\n" token (the reference looked up the characters "\\n")


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    reused_tokens: int = 0
    prefilled_tokens: int = 0
    generated_tokens: int = 0
    thinking_tokens: int = 0
    latent_steps: int = 0
    switches: int = 0
    injections: list[str] = field(default_factory=list)
    mode: str = "plain"  # plain | swi
    stop_reason: str = ""  # stop_id | stop_check | max_tokens | cancelled | swi_finish
    ttft_s: float = 0.0
    seconds: float = 0.0


@dataclass
class Token:
    id: int
    injected: bool = False  # forced by SwiReasoning's convergence, not sampled
    latent: bool = False  # the model was fed a mixture for this position, not this token


class Engine:
    """Drives one runner for one conversation at a time (batch size 1: the agent's case)."""

    def __init__(
        self,
        runner: Runner,
        special: SpecialIds,
        *,
        decode_text: Callable[[list[int]], str],
        encode_text: Callable[[str], list[int]],
        max_snapshots: int = 8,
    ):
        self.runner = runner
        self.special = special
        self.decode_text = decode_text
        self.encode_text = encode_text
        self.cache = PrefixCache(max_snapshots)
        self.lock = threading.Lock()

    def generate(
        self,
        prompt: list[int],
        params: SamplingParams,
        *,
        max_new_tokens: int,
        swi: SwiConfig | None = None,
        stop_check: Callable[[list[int]], bool] | None = None,
        cancel: threading.Event | None = None,
        stats: GenerationStats | None = None,
        thinking: bool = True,
    ) -> Iterator[Token]:
        """Yield tokens as they are decided. `stats` is filled in as it goes. `thinking`: the prompt
        ends inside a thought, so tokens count as thinking until `</think>`."""
        stats = stats if stats is not None else GenerationStats()
        with self.lock:
            yield from self._generate(
                prompt, params, max_new_tokens, swi, stop_check, cancel, stats, thinking
            )

    # --- prefill ----------------------------------------------------------------------------------------

    def prefill(self, prompt: list[int], stats: GenerationStats) -> torch.Tensor:
        """Bring the state to the end of `prompt`, reusing what matches; return the next-token logits."""
        if len(prompt) >= self.runner.max_len:
            raise ValueError(
                f"the prompt has {len(prompt)} tokens; this engine holds {self.runner.max_len} "
                "(raise the context length or compact the conversation)"
            )
        plan = self.cache.plan(prompt)
        if plan.reset:
            self.runner.reset()
        elif plan.snapshot is not None:
            self.runner.restore(plan.snapshot)
        self.cache.applied(plan)
        stats.prompt_tokens = len(prompt)
        stats.reused_tokens = plan.start
        stats.prefilled_tokens = len(prompt) - plan.start
        cuts = self._snapshot_cuts(boundaries(prompt, plan.start, self.special.message_start or -2))
        logits, snapshots = self.runner.prefill_with_snapshots(
            self.runner.embed_ids(prompt[plan.start :]), plan.start, cuts
        )
        pos = plan.start
        for cut, snapshot in zip(cuts, snapshots, strict=True):
            self.cache.consumed(prompt[pos:cut])
            self.cache.save(snapshot)
            pos = cut
        return logits

    def _snapshot_cuts(self, cuts: list[int]) -> list[int]:
        """The message boundaries to snapshot at: the newest, which the next steps return to, and in a
        fresh conversation the first (its system prompt and task). The cache would drop the others at
        once, and each costs the recurrent state's size."""
        chosen = cuts[-max(1, self.cache.max_snapshots // 2) :]
        if not self.cache.snapshot_positions and cuts[0] not in chosen:
            chosen = [cuts[0], *chosen]
        return chosen

    # --- decode -----------------------------------------------------------------------------------------

    def _generate(self, prompt, params, max_new_tokens, swi, stop_check, cancel, stats, thinking):
        started = time.perf_counter()
        generator = None
        if params.seed is not None:
            generator = torch.Generator(device=self.runner.device).manual_seed(params.seed)
        logits = self.prefill(prompt, stats)
        controller = SwiController(swi) if swi is not None and thinking else None
        stats.mode = "swi" if controller else "plain"
        seen = torch.zeros(logits.shape[-1], dtype=torch.bool, device=logits.device)
        forced: list[int] = []
        generated: list[int] = []
        in_thought = thinking
        thought_tail = ""
        pos = len(prompt)
        for step in range(max_new_tokens):
            if cancel is not None and cancel.is_set():
                stats.stop_reason = "cancelled"
                break
            picked = sample(logits, params, generator, seen if params.presence_penalty else None)
            entropy = None
            if controller is not None:
                # One host sync for both numbers (ids < 2**24 are exact in float32).
                picked, entropy = torch.stack((picked.float(), entropy_from_logits(logits))).tolist()
            sampled = int(picked)
            token = Token(forced.pop(0), injected=True) if forced else Token(sampled)
            closes = False
            if in_thought:
                if self.special.think_end is not None:
                    closes = token.id == self.special.think_end
                else:  # no single </think> token in this vocabulary: find the tag in the text
                    thought_tail = (thought_tail + self.decode_text([token.id]))[-2 * len(THINK_END) :]
                    closes = THINK_END in thought_tail
            decision = None
            if controller is not None:
                # The controller checks the sampled token (an injected one never latches the reference
                # mode); a </think> spread over several tokens counts when its last piece arrives.
                text = THINK_END if closes and not token.injected else self.decode_text([sampled])
                decision = controller.step(entropy, token_text=text)
                if decision.inject:
                    forced.extend(self.encode_text(decision.inject))
                token.latent = decision.mode is Mode.LATENT
            if step == 0:
                stats.ttft_s = time.perf_counter() - started
            generated.append(token.id)
            if params.presence_penalty:
                seen[token.id] = True
            stats.generated_tokens += 1
            if in_thought:
                stats.thinking_tokens += 1
                in_thought = not closes
            yield token
            if token.id in self.special.stop:
                stats.stop_reason = "stop_id"
                break
            if stop_check is not None and stop_check(generated):
                stats.stop_reason = "stop_check"
                break
            if decision is not None and decision.finish:
                stats.stop_reason = "swi_finish"
                break
            if pos + 1 >= self.runner.max_len:
                stats.stop_reason = "context_full"
                break
            embed = self._next_input(token, logits, decision)
            self.cache.consumed([LATENT if token.latent else token.id])
            logits = self.runner.decode(embed, pos)
            pos += 1
        else:
            stats.stop_reason = "max_tokens"
        if controller is not None:
            stats.latent_steps = controller.latent_steps
            stats.switches = controller.switches
            stats.injections = list(controller.injections)
        stats.seconds = time.perf_counter() - started

    def _next_input(self, token: Token, logits: torch.Tensor, decision) -> torch.Tensor:
        """The embedding fed for this position: the token's, or SwiReasoning's soft mixture and blends."""
        table = self.runner.embedding_matrix
        own = self.runner.embed_ids([token.id])
        if decision is None:
            return own
        blends = (
            (decision.newline_weight, self.special.newline),
            (decision.think_weight, self.special.think),
            (decision.end_think_weight, self.special.think_end),
        )
        blends = [(w, i) for w, i in blends if w > 0 and i is not None]
        if decision.mode is not Mode.LATENT and not blends:
            return own
        probs = logits.float().softmax(-1).to(table.dtype)  # raw logits: temperature 1, no truncation
        mixed = (probs.to(table.device) @ table)[None, :].to(own.dtype)
        base = mixed if decision.mode is Mode.LATENT or blends else own
        for weight, token_id in blends:
            base = (1 - weight) * base + weight * self.runner.embed_ids([token_id])
        return base
