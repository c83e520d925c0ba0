"""Thinking tokens per agent step under each thinking policy, over the fixed steps in evals/agent_steps/,
on the largest model a CPU machine runs: SmolLM2-135M-Instruct (the built-in demonstration model).

Run through evals/bench_swireasoning.py --cpu-steps (options below); prints JSON.

What is measured, per step and totalled per policy: thinking tokens, latent steps, switches, injections,
completion tokens, wall time. The policies:
- local/on      the in-process engine (rioagent.models.local), plain thinking;
- local/swi     the same with SwiReasoning's latent mode; `auto` on the in-process backend is exactly this
                (rioagent.models.local.create_local_model gives both the same SwiConfig), so it is not rerun;
- endpoint/on   a llama.cpp server over the same GGUF, the raw-completions path with no switch cap;
- endpoint/auto the same server under the endpoint approximation (rioagent.reasoning.endpoint_swi):
                entropies from the top-20 logprobs, stop and resume with `</think>` at the switch cap.

SmolLM2 has no <think> token and no thinking training. To run the pipeline at all, its chat template is
given the clause Qwen3.5's template has: with thinking on, the generation prompt ends `<think>\\n`. The
model then "thinks" until it writes `</think>` (it practically never does) or ends its turn, so nearly
every token counts as thinking. The numbers show the machinery working on a real model and what each
policy costs; they say nothing about how much a thinking-trained Qwen3.5 would save.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from rioagent.config import ModelProfile
from rioagent.messages import ModelReply, ToolCall
from rioagent.models.base import Model, complete
from rioagent.prompts import render, task_message
from rioagent.reasoning.swireasoning import SwiConfig
from rioagent.thinking import ThinkingTotals
from rioagent.toolcalls import render_tool_call
from rioagent.tools.base import load_specs

STEPS_FILE = Path(__file__).resolve().parent / "agent_steps" / "steps.json"
SAMPLING = {"temperature": 0.6, "top_p": 0.95, "top_k": 20, "seed": 0}  # DESIGN.md's recommendation
# Qwen3.5's generation prompt opens the thought when thinking is on; SmolLM2's template has no such clause.
OPEN_THOUGHT = (
    "{%- if add_generation_prompt and enable_thinking is defined and enable_thinking %}<think>\n{% endif %}"
)
NOTE = (
    "SmolLM2-135M-Instruct has no <think> token and no thinking training: the bench opens a thought in its "
    "chat template (as Qwen3.5's does) and nearly every generated token counts as thinking. These figures "
    "exercise the pipeline on a real model; they do not predict the savings on a thinking-trained Qwen3.5."
)
POLICIES = ("local/on", "local/swi", "endpoint/on", "endpoint/auto")


def load_steps(path: Path = STEPS_FILE) -> tuple[str, list[dict[str, Any]]]:
    """The workspace and the steps of an agent-steps file; a malformed file is named with what is wrong."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"cannot read agent steps from {path}: {exc}") from exc
    steps = doc.get("steps") if isinstance(doc, dict) else None
    if not steps:
        raise SystemExit(f"{path}: expected an object with a non-empty 'steps' list")
    for i, step in enumerate(steps):
        missing = [k for k in ("id", "kind", "task", "history") if k not in step]
        if missing:
            raise SystemExit(f"{path}: step {i} lacks {', '.join(missing)}")
        if step["kind"] not in ("trivial", "needs-thought"):
            kind = step["kind"]
            raise SystemExit(f"{path}: step {step['id']!r} has kind {kind!r}; use trivial or needs-thought")
    return str(doc.get("workspace", "/repo")), steps


def step_messages(step: dict[str, Any], workspace: str) -> list[dict[str, Any]]:
    """The conversation the model sees at this step: system prompt, task, then each call and its result.
    Past calls are the assistant's own text (as the model wrote them), so any chat template shows them."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": render("system.j2", workspace=workspace, agents_md="")},
        {"role": "user", "content": task_message(step["task"])},
    ]
    for i, turn in enumerate(step["history"]):
        call_id = f"call_{i}"
        call = ToolCall(turn["tool"], turn["arguments"], id=call_id)
        messages.append({"role": "assistant", "content": render_tool_call(call)})
        messages.append({"role": "tool", "tool_call_id": call_id, "content": turn["result"]})
    return messages


def open_thought(tokenizer: Any) -> None:
    template = tokenizer.chat_template or ""
    if "<think>" not in template:
        tokenizer.chat_template = template + OPEN_THOUGHT


def step_record(step: dict[str, Any], reply: ModelReply, wall: float, extra: dict[str, Any]) -> dict:
    figures = reply.thinking or {}
    return {
        "step": step["id"],
        "kind": step["kind"],
        "mode": figures.get("mode"),
        "thinking_tokens": figures.get("thinking_tokens", 0),
        "latent_steps": figures.get("latent_steps", 0),
        "switches": figures.get("switches", 0),
        "injections": figures.get("injections", []),
        "completion_tokens": reply.usage.completion_tokens,
        "prompt_tokens": reply.usage.prompt_tokens,
        "finish_reason": reply.finish_reason,
        "wall_s": round(wall, 2),
        **extra,
        "thought_head": reply.reasoning[:80],
        "answer_head": reply.content[:80],
    }


def totals(records: list[dict[str, Any]], figures: list[dict[str, Any]]) -> dict[str, Any]:
    thinking = ThinkingTotals()
    for f in figures:
        thinking.add(f)
    out: dict[str, Any] = dict(thinking.to_dict())
    out["completion_tokens"] = sum(r["completion_tokens"] for r in records)
    out["wall_s"] = round(sum(r["wall_s"] for r in records), 2)
    for kind in ("trivial", "needs-thought"):
        mine = [r["thinking_tokens"] for r in records if r["kind"] == kind]
        out[f"thinking_tokens_mean_{kind}"] = round(sum(mine) / len(mine), 1) if mine else None
    return out


async def run_policy(
    model: Model, steps: list[dict[str, Any]], workspace: str, tools: list[dict[str, Any]], extra: Any
) -> dict[str, Any]:
    records, figures = [], []
    for step in steps:
        started = time.perf_counter()
        reply = await complete(model, step_messages(step, workspace), tools)
        records.append(step_record(step, reply, time.perf_counter() - started, extra(model, reply)))
        figures.append(reply.thinking)
    return {"steps": records, "totals": totals(records, figures)}


def local_extra(model: Any, reply: ModelReply) -> dict[str, Any]:
    f = reply.thinking
    return {"reused_tokens": f.get("reused_tokens"), "prefilled_tokens": f.get("prefilled_tokens")}


def endpoint_extra(model: Any, reply: ModelReply) -> dict[str, Any]:
    stats = model.last_stats
    return {
        "resumed": stats["resumed"],
        "would_be_latent_steps": stats["latent_steps"],
        "missing_logprobs": stats["missing_logprobs"],
    }


async def bench(
    policies: list[str], max_tokens: int, swi: dict[str, Any], steps_file: Path = STEPS_FILE, limit: int = 0
) -> dict[str, Any]:
    from rioagent.models.engine import GenerationStats
    from rioagent.models.factory import create_model
    from rioagent.models.smollm import BUILTIN, NAME

    workspace, steps = load_steps(steps_file)
    steps = steps[:limit] if limit else steps
    tools = [spec.to_openai() for spec in load_specs()]
    out: dict[str, Any] = {
        "model": NAME,
        "note": NOTE,
        "steps_file": str(steps_file),
        "steps": len(steps),
        "max_tokens_per_step": max_tokens,
        "sampling": SAMPLING,
        "swi_overrides": swi,
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],  # CPUs shared: wall times vary
        "policies": {},
    }
    renderer = None
    for policy in [p for p in policies if p.startswith("local/")]:
        think = policy.split("/", 1)[1]
        profile = ModelProfile(
            name="bench",
            backend="local",
            path=BUILTIN,
            max_output_tokens=max_tokens,
            sampling=dict(SAMPLING),
            context_window=4096,
        )
        model = await create_model(profile, think=think)
        open_thought(model.tokenizer)
        if model.swi is not None:
            model.swi = replace(model.swi, **swi)
            out["swi_config"] = {k: v for k, v in vars(model.swi).items() if k not in ("termination_text",)}
        renderer = model
        # The steps are separate conversations that share the system turn (prompt + tool schemas, ~3k
        # tokens). Keep every boundary snapshot and prefill that turn once, untimed, as a session would
        # have: each step's wall time is then its own new tokens, as in a running agent.
        model.engine.cache.max_snapshots = 256
        started = time.perf_counter()
        shared = model.render(step_messages(steps[0], workspace)[:1], tools)
        model.engine.prefill(model.tokenizer.encode(shared, add_special_tokens=False), GenerationStats())
        out.setdefault("warmup_s", {})[policy] = round(time.perf_counter() - started, 1)
        out["policies"][policy] = await run_policy(model, steps, workspace, tools, local_extra)
    endpoint = [p for p in policies if p.startswith("endpoint/")]
    if endpoint:
        measured, warmup = await bench_endpoint(endpoint, steps, workspace, tools, max_tokens, swi, renderer)
        out["policies"].update(measured)
        out.setdefault("warmup_s", {})["endpoint"] = warmup
    return out


async def bench_endpoint(
    policies: list[str], steps, workspace, tools, max_tokens: int, swi: dict[str, Any], renderer: Any
) -> tuple[dict[str, Any], float]:
    import httpx

    from rioagent.models.demo import LlamaServer, find_gguf
    from rioagent.models.endpoint import EndpointModel
    from rioagent.reasoning.endpoint_swi import SwiEndpointModel

    if renderer is None:  # the prompt is rendered locally from SmolLM2's own template
        from rioagent.models.factory import create_model
        from rioagent.models.smollm import BUILTIN

        renderer = await create_model(ModelProfile(name="r", backend="local", path=BUILTIN), think="on")
        open_thought(renderer.tokenizer)
    server = LlamaServer(find_gguf(), n_ctx=4096).start()
    out: dict[str, Any] = {}
    try:
        await asyncio.to_thread(server.wait_ready)
        # llama-cpp-python reuses the previous request's matching prefix: evaluate the shared system turn
        # once, untimed, so the first step is not charged for it (the later ones never are).
        started = time.perf_counter()
        shared = renderer.render(step_messages(steps[0], workspace)[:1], tools)
        async with httpx.AsyncClient(timeout=600, trust_env=False) as client:
            body = {"prompt": shared, "max_tokens": 1}
            warm = await client.post(f"{server.base_url}/completions", json=body)
            warm.raise_for_status()
        warmup = round(time.perf_counter() - started, 1)
        for policy in policies:
            profile = ModelProfile(
                name="bench",
                base_url=server.base_url,
                model=server.alias,
                max_output_tokens=max_tokens,
                sampling=dict(SAMPLING),
                max_retries=0,
            )
            # `on` takes the same raw-completions path with no switch cap, so the two differ only by the cap.
            config = SwiConfig(max_new_tokens=max_tokens, **swi)
            if policy == "endpoint/on":
                config = replace(config, max_switches=None)
            inner = EndpointModel(profile, thinking=True)
            model = SwiEndpointModel(inner, config, render_prompt=renderer.render)
            try:
                out[policy] = await run_policy(model, steps, workspace, tools, endpoint_extra)
            finally:
                await model.aclose()
    finally:
        server.stop()
    return out, warmup
