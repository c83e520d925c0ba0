"""SwiReasoning in the in-process engine, on the tiny random Qwen3.5-MoE with the real tokenizer: what is
fed at each step (the full-vocabulary mixture and the <think>/</think>/newline blends), what is recorded
(the sampled tokens), where prefix reuse rolls back after a latent turn, stop ids, and switching off.

The runner is the real Qwen35Runner, wrapped only to record what goes in and comes out of each step."""

from __future__ import annotations

from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from rioagent.models.engine import Engine, GenerationStats  # noqa: E402
from rioagent.models.loader import special_ids  # noqa: E402
from rioagent.models.qwen35_runner import Qwen35Runner  # noqa: E402
from rioagent.models.sampling import SamplingParams  # noqa: E402
from rioagent.reasoning.entropy import entropy_from_logits  # noqa: E402
from rioagent.reasoning.swireasoning import Mode, SwiConfig, SwiController  # noqa: E402
from tests.tiny_qwen import END_THINK_ID, ENDOFTEXT_ID, IM_END_ID, IM_START_ID, THINK_ID  # noqa: E402

GREEDY = SamplingParams(temperature=0.0)
CONVERSATION = [
    {"role": "system", "content": "You are a coding agent."},
    {"role": "user", "content": "The test passed. Finish."},
]


class Recording:
    """The real runner, recording each decode step's input embedding and every logits it returns."""

    def __init__(self, inner: Qwen35Runner, force: list[int | None] | None = None):
        self.inner = inner
        self.device = inner.device
        self.max_len = inner.max_len
        self.force = force or []  # make force[k] the argmax of the k-th logits returned (None: leave them)
        self.fed: list[torch.Tensor] = []
        self.logits: list[torch.Tensor] = []

    @property
    def embedding_matrix(self) -> torch.Tensor:
        return self.inner.embedding_matrix

    def embed_ids(self, ids):
        return self.inner.embed_ids(ids)

    def _out(self, logits: torch.Tensor) -> torch.Tensor:
        if len(self.logits) < len(self.force) and self.force[len(self.logits)] is not None:
            logits = logits.clone()
            logits[self.force[len(self.logits)]] += 1e4
        self.logits.append(logits.clone())
        return logits

    def prefill_with_snapshots(self, embeds, start, cuts):
        self.logits.clear()
        self.fed.clear()
        out, snapshots = self.inner.prefill_with_snapshots(embeds, start, cuts)
        return self._out(out), snapshots

    def decode(self, embed, pos):
        self.fed.append(embed.clone())
        return self._out(self.inner.decode(embed, pos))

    def snapshot(self):
        return self.inner.snapshot()

    def restore(self, snapshot):
        self.inner.restore(snapshot)

    def reset(self):
        self.inner.reset()


@pytest.fixture(scope="module")
def tiny(tiny_qwen_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_qwen_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen_dir)
    return model, tokenizer, special_ids(tokenizer, model.generation_config)  # 248k vocab entries: once


def engine_for(tiny, force: list[int | None] | None = None) -> tuple[Engine, Recording]:
    model, tokenizer, special = tiny
    runner = Recording(Qwen35Runner(model, 512), force)
    engine = Engine(
        runner,
        special,
        decode_text=lambda ids: tokenizer.decode(ids, skip_special_tokens=False),
        encode_text=lambda text: tokenizer.encode(text, add_special_tokens=False),
    )
    return engine, runner


def prompt_ids(tokenizer, messages, thinking=True) -> list[int]:
    text = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False, enable_thinking=thinking
    )
    return tokenizer.encode(text, add_special_tokens=False)


def expected_input(decision, logits, token_id, table, special) -> torch.Tensor:
    """DESIGN.md's rule, written out independently of Engine._next_input."""
    own = table[token_id][None]
    blends = [
        (w, i)
        for w, i in (
            (decision.newline_weight, special.newline),
            (decision.think_weight, THINK_ID),
            (decision.end_think_weight, END_THINK_ID),
        )
        if w > 0
    ]
    if decision.mode is Mode.EXPLICIT and not blends:
        return own
    fed = (torch.softmax(logits.double(), -1) @ table.double())[None]  # all 248,320 rows
    for weight, token_id in blends:
        fed = (1 - weight) * fed + weight * table[token_id][None].double()
    return fed.float()


def test_latent_mode_feeds_the_full_vocabulary_mixture_and_records_the_sampled_tokens(tiny):
    _, tokenizer, _ = tiny
    engine, runner = engine_for(tiny)
    ids = prompt_ids(tokenizer, CONVERSATION)
    # window 2, no cap, alpha0 0.5: switches both ways within a few tokens, blends at every switch.
    config = SwiConfig(window=2, max_switches=None, alpha0=0.5, beta0=0.7, max_new_tokens=64)
    stats = GenerationStats()
    tokens = list(engine.generate(ids, GREEDY, max_new_tokens=16, swi=config, stats=stats))
    assert len(runner.fed) >= len(tokens) - 1  # logits[i] decided token i; fed[i] is what followed it

    # Replay the pure controller on the same entropies: the engine must have acted on each decision.
    replay = SwiController(config)
    table = runner.embedding_matrix.float()
    kinds = set()
    for i, token in enumerate(tokens):
        logits = runner.logits[i]
        # Recorded text keeps the sampled token, latent step or not (greedy: the argmax).
        assert token.id == int(logits.argmax()) and not token.injected
        decision = replay.step(float(entropy_from_logits(logits)), token_text=tokenizer.decode([token.id]))
        assert token.latent == (decision.mode is Mode.LATENT)
        if i < len(runner.fed):
            torch.testing.assert_close(
                runner.fed[i],
                expected_input(decision, logits, token.id, table, engine.special),
                rtol=1e-4,
                atol=1e-5,
            )
        kinds |= {
            k
            for k, w in (
                ("newline", decision.newline_weight),
                ("think", decision.think_weight),
                ("end_think", decision.end_think_weight),
            )
            if w > 0
        }
        kinds.add(decision.mode)
    assert kinds >= {"newline", "think", "end_think", Mode.LATENT, Mode.EXPLICIT}  # every rule was exercised
    assert stats.latent_steps == replay.latent_steps and stats.switches == replay.switches >= 1


def test_the_newline_blend_uses_the_real_newline_token(tiny):
    _, tokenizer, _ = tiny
    engine, _ = engine_for(tiny)
    (newline,) = tokenizer.encode("\n", add_special_tokens=False)
    assert engine.special.newline == newline
    assert tokenizer.encode("\\n", add_special_tokens=False) != [newline]  # the reference's defect


def test_after_a_latent_tool_loop_step_reuse_rolls_back_to_the_end_of_the_previous_prompt(tiny):
    model, tokenizer, _ = tiny
    engine, _ = engine_for(tiny)
    ids = prompt_ids(tokenizer, CONVERSATION)
    config = SwiConfig(window=2, max_switches=None, max_new_tokens=64)
    tokens = list(engine.generate(ids, GREEDY, max_new_tokens=4, swi=config))
    assert tokens[0].latent  # step 0 is always latent: nothing after the prompt can be matched
    # Inside a tool loop the template re-renders this turn's thought: the state rolls back to exactly the
    # end of the previous prompt (the boundary before the SwiReasoning turn) and prefills the turn again.
    grown = [
        *CONVERSATION,
        {
            "role": "assistant",
            "content": "",
            "reasoning_content": "check the test output",
            "tool_calls": [
                {"type": "function", "function": {"name": "finish", "arguments": {"summary": "ok"}}}
            ],
        },
        {"role": "tool", "content": "done"},
    ]
    second = prompt_ids(tokenizer, grown)
    assert second[: len(ids)] == ids
    stats = GenerationStats()
    logits = engine.prefill(second, stats)
    assert stats.reused_tokens == len(ids) and stats.prefilled_tokens == len(second) - len(ids)
    with torch.inference_mode():
        full = model(torch.tensor([second]), logits_to_keep=1).logits[0, -1].float()
    torch.testing.assert_close(logits, full, rtol=1e-4, atol=1e-4)


def test_after_a_new_user_turn_reuse_rolls_back_to_the_assistant_turns_start(tiny):
    model, tokenizer, _ = tiny
    engine, _ = engine_for(tiny)
    ids = prompt_ids(tokenizer, CONVERSATION)
    list(engine.generate(ids, GREEDY, max_new_tokens=4, swi=SwiConfig(window=2, max_new_tokens=64)))
    # A new user turn: the template drops the old thought, so even the generation prompt's `<think>\n` no
    # longer matches; the last snapshot before it is the `<|im_start|>` that opens the assistant turn.
    grown = [
        *CONVERSATION,
        {"role": "assistant", "content": "Done.", "reasoning_content": "easy"},
        {"role": "user", "content": "Thanks. Now add a changelog entry."},
    ]
    second = prompt_ids(tokenizer, grown)
    stats = GenerationStats()
    logits = engine.prefill(second, stats)
    assistant_start = max(i for i, t in enumerate(ids) if t == IM_START_ID)
    assert stats.reused_tokens == assistant_start and second[assistant_start] == IM_START_ID
    with torch.inference_mode():
        full = model(torch.tensor([second]), logits_to_keep=1).logits[0, -1].float()
    torch.testing.assert_close(logits, full, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("stop_id", [IM_END_ID, ENDOFTEXT_ID])
def test_latent_decoding_stops_on_every_stop_id(tiny, stop_id):
    _, tokenizer, _ = tiny
    engine, _ = engine_for(tiny, force=[stop_id])  # the stop token is the argmax at step 0
    assert {IM_END_ID, ENDOFTEXT_ID} <= engine.special.stop
    stats = GenerationStats()
    ids = prompt_ids(tokenizer, CONVERSATION)
    tokens = list(engine.generate(ids, GREEDY, max_new_tokens=3, swi=SwiConfig(window=2), stats=stats))
    assert [t.id for t in tokens] == [stop_id] and tokens[0].latent and stats.stop_reason == "stop_id"


def test_switching_off_is_plain_decoding(tiny):
    """No SwiConfig, or one on a step with no thought: the tokens of plain decoding, seed for seed."""
    _, tokenizer, _ = tiny
    ids = prompt_ids(tokenizer, CONVERSATION)
    params = SamplingParams(temperature=1.0, top_p=0.95, top_k=50, seed=11)

    def run(**kwargs) -> tuple[list[int], GenerationStats]:
        engine, _ = engine_for(tiny)
        stats = GenerationStats()
        return [t.id for t in engine.generate(ids, params, max_new_tokens=10, stats=stats, **kwargs)], stats

    plain, plain_stats = run()
    assert plain_stats.mode == "plain" and plain_stats.latent_steps == 0
    off, off_stats = run(swi=SwiConfig(window=2), thinking=False)  # --think swi on a non-thinking step
    assert off == plain and off_stats.mode == "plain" and off_stats.thinking_tokens == 0
    _, latent_stats = run(swi=SwiConfig(window=2))
    assert latent_stats.latent_steps >= 1  # and switching on does change what is fed


def test_a_think_end_split_over_several_tokens_closes_the_thought_and_locks(tiny):
    """A vocabulary without a single </think> token (SmolLM2's): the tag is found in the text."""
    _, tokenizer, _ = tiny
    pieces = [
        *tokenizer.encode("</", add_special_tokens=False),
        *tokenizer.encode("think>", add_special_tokens=False),
    ]
    assert len(pieces) >= 2
    engine, _ = engine_for(tiny, force=pieces)  # the model "writes" </think> itself, piece by piece
    engine.special = replace(engine.special, think_end=None)
    ids = prompt_ids(tokenizer, CONVERSATION)
    stats = GenerationStats()
    config = SwiConfig(window=0, max_switches=None)
    tokens = list(engine.generate(ids, GREEDY, max_new_tokens=len(pieces) + 2, swi=config, stats=stats))
    assert [t.id for t in tokens[: len(pieces)]] == pieces
    assert stats.thinking_tokens == len(pieces)  # the thought ends with the tag's last piece
    assert not any(t.latent for t in tokens[len(pieces) :])  # locked: explicit from then on


def test_convergence_injects_the_end_of_thought_then_lets_the_tool_call_complete(tiny):
    from rioagent.models.local import ToolCallStop

    _, tokenizer, _ = tiny
    call = "<tool_call>\n<function=finish>\n<parameter=summary>\nok\n</parameter>\n</function>\n</tool_call>"
    call_ids = tokenizer.encode(call, add_special_tokens=False)
    injected = tokenizer.encode("</think>\n\n", add_special_tokens=False)
    # Step 0 keeps its natural entropy; step 1 is made near-certain (H ~ 0 < H_0): with M = 1 that switch
    # converges. The injected tokens fill the next steps whatever is sampled; then the model writes a call.
    filler = tokenizer.encode(" ok", add_special_tokens=False)[0]
    force = [None, filler, *[None] * len(injected), *call_ids, IM_END_ID]
    engine, _ = engine_for(tiny, force=force)
    stats = GenerationStats()
    ids = prompt_ids(tokenizer, CONVERSATION)
    config = SwiConfig(window=0, max_switches=1, max_new_tokens=64)
    tokens = list(
        engine.generate(
            ids, GREEDY, max_new_tokens=64, swi=config, stats=stats, stop_check=ToolCallStop(tokenizer)
        )
    )
    got = [t.id for t in tokens]
    assert [t.id for t in tokens if t.injected] == injected == got[2 : 2 + len(injected)]
    assert stats.injections == ["</think>\n\n"] and stats.switches == 1
    assert stats.thinking_tokens == 2 + injected.index(END_THINK_ID) + 1  # the thought ends at </think>
    after = got[2 + len(injected) :]
    assert after[: len(call_ids)] == call_ids  # the whole call, nothing injected into it, nothing cut
    assert not any(t.latent or t.injected for t in tokens[2 + len(injected) :])
    assert stats.stop_reason in ("stop_check", "stop_id")
