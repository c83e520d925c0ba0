"""Core overhead benchmarks; prints one JSON object.

- help_seconds: wall time of `rioagent --help` in a fresh interpreter (target < 0.3 s), median of 5.
- step_ms: parse a Qwen3.5 XML tool call + dispatch it + a `true` round trip through the persistent bash
  (target median < 15 ms).
- agent_step_ms: a whole agent step with a zero-latency model replying that same call (events, approval,
  checkpoint included), for context.
- str_replace_ms: one str_replace in a 10,000-line file (target < 5 ms).
- search_ms: the search tool over a generated 5,000-file git tree (a tenth of it .gitignore'd), through the
  registry, with ripgrep and with the pure-Python fallback; `identical` checks both gave the same output.

Run: python evals/bench_core.py
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rioagent.messages import ModelReply, ToolCall, Usage
from rioagent.toolcalls import parse_tool_calls, render_tool_call
from rioagent.tools.base import ToolContext, ToolRegistry, load_specs


def bench_help(runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "rioagent", "--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_step(workspace: Path, runs: int = 200) -> list[float]:
    registry = ToolRegistry(load_specs())
    ctx = ToolContext(workspace=workspace, artifacts_dir=workspace / ".art")
    content = render_tool_call(ToolCall("bash", {"command": "true"}))
    schemas = registry.schemas()
    registry.run(ctx, parse_tool_calls(content, schemas).calls[0])  # start the shell outside the timing
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call = parse_tool_calls(content, schemas).calls[0]
        result = registry.run(ctx, call)
        times.append((time.perf_counter() - start) * 1000)
        assert not result.is_error, result.output
    ctx.close()
    return times


class ZeroLatencyModel:
    """Replies instantly with the same bash call, then finish: a benchmark harness, not a model."""

    name, backend, context_window = "zero-latency", "bench", 1_000_000

    def __init__(self, steps: int):
        self.left = steps

    async def stream(self, messages, tools):
        self.left -= 1
        call = (
            ToolCall("bash", {"command": "true"}) if self.left > 0 else ToolCall("finish", {"summary": "ok"})
        )
        yield ModelReply(content=render_tool_call(call), usage=Usage(10, 10))

    def count_tokens(self, messages):
        return None

    async def aclose(self):
        pass


async def bench_agent(workspace: Path, steps: int = 100) -> list[float]:
    from rioagent.agent import Agent
    from rioagent.config import load_settings
    from rioagent.events import StepStarted

    settings = load_settings(workspace, flags={"max_steps": steps + 5, "max_repeats": steps + 5})
    agent = Agent(
        ZeroLatencyModel(steps), settings, workspace, session_id="bench", state_dir=workspace / ".st"
    )
    stamps = []
    async for event in agent.run("benchmark"):
        if isinstance(event, StepStarted):
            stamps.append(time.perf_counter())
    agent.close()
    return [(b - a) * 1000 for a, b in itertools.pairwise(stamps[5:])]


def bench_str_replace(workspace: Path, runs: int = 50) -> list[float]:
    registry = ToolRegistry(load_specs())
    ctx = ToolContext(workspace=workspace, artifacts_dir=workspace / ".art")
    path = workspace / "big.py"
    path.write_text("".join(f"def function_{i}(x):\n    return x + {i}\n" for i in range(5000)))
    times = []
    for i in range(runs):
        old, new = (f"return x + {i}\n", f"return x - {i}\n")
        start = time.perf_counter()
        result = registry.run(
            ctx, ToolCall("str_replace", {"path": "big.py", "old_str": old, "new_str": new})
        )
        times.append((time.perf_counter() - start) * 1000)
        assert not result.is_error, result.output
    ctx.close()
    return times


def bench_search(workspace: Path, files: int = 5000, runs: int = 5) -> dict[str, object]:
    tree = workspace / "search_tree"
    for i in range(files):
        folder = tree / f"pkg{i % 50:02}"
        folder.mkdir(parents=True, exist_ok=True)
        body = "".join(f"def handler_{i}_{j}(event):\n    return event + {j}\n" for j in range(20))
        (folder / f"mod_{i}.py").write_text(body)
    (tree / ".gitignore").write_text("pkg4*/\n")
    subprocess.run(["git", "init", "-q", str(tree)], check=True)
    registry = ToolRegistry(load_specs(["search"]))
    ctx = ToolContext(workspace=tree, artifacts_dir=workspace / ".art")
    # an identifier defined once (the usual question), and a pattern hitting every file (capped output)
    patterns = {"one_hit": r"def handler_1234_17\(", "many_hits": r"def handler_\d+_17\("}
    result: dict[str, object] = {"files": files}
    saved = os.environ.get("RIOAGENT_NO_RG")
    for label, pattern in patterns.items():
        call = ToolCall("search", {"pattern": pattern, "max_results": 50})
        outputs, row = [], {}
        for backend, no_rg in (("rg", ""), ("python", "1")):
            os.environ["RIOAGENT_NO_RG"] = no_rg
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                output = registry.run(ctx, call).output
                times.append((time.perf_counter() - start) * 1000)
            outputs.append(output)
            row[f"{backend}_ms"] = summary(times)
        row["identical"] = outputs[0] == outputs[1]
        result[label] = row
    if saved is None:
        os.environ.pop("RIOAGENT_NO_RG", None)
    else:
        os.environ["RIOAGENT_NO_RG"] = saved
    return result


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median": round(statistics.median(ordered), 3),
        "p90": round(ordered[int(len(ordered) * 0.9)], 3),
        "n": len(ordered),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        result = {
            "help_seconds": round(bench_help(), 4),
            "step_ms": summary(bench_step(root)),
            "agent_step_ms": summary(asyncio.run(bench_agent(root))),
            "str_replace_ms": summary(bench_str_replace(root)),
            "search_ms": bench_search(root),
            "targets": {"help_seconds": 0.3, "step_ms_median": 15, "str_replace_ms_median": 5},
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
