"""TUI benchmark: time to first paint, tokens/s streamed through the conversation, and how long a key
takes to reach the screen while it streams. Prints one JSON object.

    python evals/bench_tui.py [--tokens 40000] [--keys 20]

- first paint: a fresh interpreter runs the `rioagent` path (CLI import, settings, the app, an
  endpoint model) headless until its first frame reaches the driver; torch must not be imported by
  then. Target < 1 s. `settled` is when the app is next idle (the model and agent load after the frame).
- streaming: a zero-latency model streams one token per chunk (a thought, then Markdown prose with code
  blocks) into the real app through the real agent loop; tokens/s is counted from the prompt to the
  run's end.
  Target >= 2,000 tokens/s.
- key latency: while that stream runs, a key is posted to the prompt every 50 ms; the time until the
  character is in the prompt and a frame has been drawn after it. Target < 100 ms. The view draws the
  answer in batches sized and spaced by what drawing costs, and holds the model back when it outruns
  them, so tokens/s here is the screen's pace, not the model's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# ---- first paint (run in a child interpreter) -----------------------------------------------------------


def child_first_paint(started: float) -> None:
    """Runs in the child: the same path as `rioagent --endpoint URL --model M`, headless."""
    from rioagent.cli import build_parser, flags_layer

    args = build_parser().parse_args(["--endpoint", "http://127.0.0.1:9/v1", "--model", "bench"])
    from textual.app import App

    from rioagent.config import load_settings
    from rioagent.tui.app import RioApp

    settings = load_settings(Path.cwd(), flags=flags_layer(args))
    app = RioApp(settings, Path.cwd())
    result: dict[str, Any] = {}
    display = App._display

    def first_frame(self: Any, *a: Any, **k: Any) -> Any:
        # The first frame handed to the terminal driver: what the user sees first.
        result.setdefault("first_paint_s", time.time() - started)
        return display(self, *a, **k)

    App._display = first_frame  # type: ignore[method-assign]

    async def painted(pilot: Any) -> None:
        await pilot.pause()
        # Idle after the first frame: the model and the agent are being built, off the loop.
        result["settled_s"] = time.time() - started
        result["torch_imported"] = "torch" in sys.modules
        result["transformers_imported"] = "transformers" in sys.modules
        app.exit()

    app.run(headless=True, size=(100, 30), auto_pilot=painted)
    print(json.dumps(result))


def first_paint(runs: int = 3) -> dict[str, Any]:
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "XDG_STATE_HOME": f"{tmp}/state",
            "XDG_CONFIG_HOME": f"{tmp}/config",
            "HOME": tmp,
        }
        env["PYTHONPATH"] = str(ROOT)
        for _ in range(runs):
            started = time.time()
            out = subprocess.run(
                [sys.executable, __file__, "--child-first-paint", repr(started)],
                cwd=tmp, env=env, capture_output=True, text=True, timeout=120, check=True,
            ).stdout  # fmt: skip
            figures.append(json.loads(out.strip().splitlines()[-1]))
    assert not any(f["torch_imported"] for f in figures), "torch was imported on the endpoint path"
    times = [f["first_paint_s"] for f in figures]
    settled = [f["settled_s"] for f in figures]
    return {
        "first_paint_s": round(min(times), 3),
        "first_paint_median_s": round(statistics.median(times), 3),
        "settled_median_s": round(statistics.median(settled), 3),
        "torch_imported": False,
        "target_s": 1.0,
    }


# ---- streaming ----------------------------------------------------------------------------------------


class BenchModel:
    """Zero latency, one token per chunk: a thought, then Markdown prose with code blocks, then a finish
    call."""

    name = "bench"
    backend = "bench"
    context_window = 262144

    def __init__(self, tokens: int):
        self.tokens = tokens

    def _words(self, n: int, seed: int) -> list[str]:
        words = []
        code = ""  # the code line being streamed, a few characters a token, as a tokenizer splits code
        for i in range(n):
            j = i + seed
            if j % 3000 == 1500:  # now and then a code block of some 60 lines
                words.append("\n\n```python\n")
            elif 1500 < j % 3000 < 2400:
                code = code or f"    value_{j} = compute({j}, key='k{j % 7}')  # step {j}\n"
                words.append(code[:4])
                code = code[4:]
            elif j % 3000 == 2400:
                words.append(code + "```\n\n")
                code = ""
            elif j % 400 == 0:
                words.append(f"\n\n## Part {j // 400}\n\n")
            elif j % 60 == 0:
                words.append(".\n\n")
            elif j % 97 == 0:
                words.append(" `code`")
            elif j % 53 == 0:
                words.append(" **bold**")
            else:
                words.append(" word")
        return words

    async def stream(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> AsyncIterator[Any]:
        from rioagent.messages import ModelReply, ToolCall, Usage
        from rioagent.models.base import StreamChunk

        thought_n = self.tokens // 5
        thought = self._words(thought_n, 1)
        answer = self._words(self.tokens - thought_n, 7)
        for i, word in enumerate(thought):
            yield StreamChunk("reasoning", word)
            if i % 64 == 0:
                await asyncio.sleep(0)  # an HTTP stream gives the loop a turn between reads
        for i, word in enumerate(answer):
            yield StreamChunk("content", word)
            if i % 64 == 0:
                await asyncio.sleep(0)
        yield ModelReply(
            content="".join(answer),
            reasoning="".join(thought),
            tool_calls=[ToolCall("finish", {"summary": "done"}, id="c1")],
            usage=Usage(10, self.tokens, thought_n),
        )

    def count_tokens(self, messages: list[dict[str, Any]]) -> int | None:
        return None

    async def aclose(self) -> None:
        return None


async def streaming(tokens: int, keys: int) -> dict[str, Any]:
    from textual import events

    from rioagent.config import Settings
    from rioagent.tui.app import RioApp
    from rioagent.tui.history import PromptHistory

    model = BenchModel(tokens)

    async def factory(_: Settings) -> BenchModel:
        return model

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_STATE_HOME"] = f"{tmp}/state"
        repo = Path(tmp) / "repo"
        repo.mkdir()
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        app = RioApp(
            Settings(approval="auto"), repo, model_factory=factory, prompt_history=PromptHistory(None)
        )
        async with app.run_test(size=(120, 40)) as pilot:
            while not app.session.ready:
                await pilot.pause(0.01)
            prompt = app.prompt_bar.input
            prompt.insert("go")
            await pilot.pause()
            latencies: list[float] = []
            started = time.perf_counter()
            await pilot.press("enter")
            deadline = time.perf_counter() + 10
            while not app.session.busy and not app.conversation.query("RunResult"):
                assert time.perf_counter() < deadline, "the run never started"
                await asyncio.sleep(0.001)

            async def one_key() -> None:
                before = prompt.text.count("z")
                t0 = time.perf_counter()
                prompt.post_message(events.Key("z", "z"))
                while prompt.text.count("z") == before:
                    assert time.perf_counter() - t0 < 10, "a key never reached the prompt"
                    await asyncio.sleep(0.001)
                drawn = asyncio.Event()
                prompt.call_after_refresh(drawn.set)
                await drawn.wait()
                latencies.append(time.perf_counter() - t0)

            while app.session.busy:
                if len(latencies) < keys:
                    await one_key()
                await asyncio.sleep(0.05)
            seconds = time.perf_counter() - started
            # The view trims what scrolled far up while it followed the stream: bring it all back (as
            # Home does) so the count below checks every word reached the screen.
            while app.conversation.earlier:
                await app.conversation.load_earlier(10_000)
            await pilot.pause()
            texts = [w.source for w in app.conversation.query("AssistantText")]
            streamed = sum(len(t.split()) for t in texts)
    latencies.sort()
    return {
        "tokens": tokens,
        "stream_seconds": round(seconds, 3),
        "tokens_per_s": round(tokens / seconds),
        "target_tokens_per_s": 2000,
        "words_on_screen": streamed,
        "key_samples": len(latencies),
        "key_latency_ms_median": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "key_latency_ms_p90": round(1000 * latencies[int(0.9 * (len(latencies) - 1))], 1)
        if latencies
        else None,
        "key_latency_ms_max": round(1000 * latencies[-1], 1) if latencies else None,
        "target_key_latency_ms": 100,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=40000)
    parser.add_argument("--keys", type=int, default=20)
    parser.add_argument("--child-first-paint", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_first_paint is not None:
        child_first_paint(args.child_first_paint)
        return
    out = {"python": sys.version.split()[0], "cpus": os.cpu_count(), "load_1m": round(os.getloadavg()[0], 2)}
    out.update(first_paint())
    out.update(asyncio.run(streaming(args.tokens, args.keys)))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
